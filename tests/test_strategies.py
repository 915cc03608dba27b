import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import registry
from gradproof.core import strategies as gs
from gradproof.core.fd import EPS


@given(st.data())
def test_away_from_keeps_its_margin_and_bounds(data):
    kinks = data.draw(st.lists(st.floats(-3, 3), min_size=1, max_size=4), label="kinks")
    value = data.draw(gs.away_from(kinks, margin=0.01, min_value=-4, max_value=4))
    assert -4 <= value <= 4
    assert min(abs(value - k) for k in kinks) >= 0.01


def test_away_from_refuses_an_empty_range():
    with pytest.raises(ValueError, match="no value in"):
        gs.away_from((0.0,), margin=1.0, min_value=-0.5, max_value=0.5)


@given(gs.arrays((3, 4)))
def test_floats_are_bounded_and_normal(x):
    assert x.dtype == np.float64
    assert np.all(np.abs(x) <= gs.BOUND)
    assert not np.any((x != 0) & (np.abs(x) < np.finfo(np.float64).tiny))


@given(st.data())
def test_distinct_values_are_spread_and_bounded(data):
    shape = data.draw(gs.shapes(min_dims=1, max_dims=3, max_side=5), label="shape")
    x = data.draw(gs.distinct_values(shape, margin=1e-3), label="x")
    assert x.shape == shape
    assert np.all(np.abs(x) <= gs.BOUND + 1e-9)
    if x.size > 1:
        assert np.min(np.diff(np.sort(x.ravel()))) >= 1e-3


def test_distinct_values_refuses_what_cannot_fit():
    @given(gs.distinct_values((100,), margin=0.1, min_value=0, max_value=1))
    def draw(x):
        pass

    with pytest.raises(ValueError, match="do not fit"):
        draw()


@pytest.mark.parametrize("spec", registry.all_specs(), ids=lambda spec: spec.name)
@given(data=st.data())
def test_every_op_draws_examples_away_from_its_kinks(spec, data):
    example = data.draw(spec.examples)
    if spec.kink_distance is not None:
        # The gradient check refuses examples within twice its step of a kink; strategies keep ten
        # times the step at least (elementwise ops KINK_MARGIN / 2 = 500 steps, networks 10).
        assert spec.kink_distance(example) >= 10 * EPS


def test_max_pool_kink_ignores_windows_that_cannot_tie():
    from reference.network import half_top_two_gap, half_top_two_gap_after_relu

    x = np.array([[[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.5]]]])  # channel 0: all zeros
    assert half_top_two_gap(x, kernel_size=2) == 0.0  # the zeros tie
    assert half_top_two_gap_after_relu(x, kernel_size=2) == 0.25  # after a ReLU they are flat: only 1 vs 0.5
    assert half_top_two_gap(np.array([[[[3.0]]]]), kernel_size=2, padding=1) == np.inf  # padding never ties
