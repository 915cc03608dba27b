import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import kinks, registry
from gradproof.core import strategies as gs
from gradproof.core.fd import EPS
from gradproof.core.registry import Example


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
    if spec.kinks is not None:
        # The gradient check refuses examples within twice its step of a kink; strategies keep ten
        # times the step at least (elementwise ops KINK_MARGIN / 2 = 500 steps, networks 10).
        assert spec.kinks.distance(example) >= 10 * EPS


def test_max_pool_kink_ignores_windows_that_cannot_tie():
    from reference.network import half_top_two_gap, half_top_two_gap_after_relu

    x = np.array([[[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.5]]]])  # channel 0: all zeros
    assert half_top_two_gap(x, kernel_size=2) == 0.0  # the zeros tie
    assert half_top_two_gap_after_relu(x, kernel_size=2) == 0.25  # after a ReLU they are flat: only 1 vs 0.5
    assert half_top_two_gap(np.array([[[[3.0]]]]), kernel_size=2, padding=1) == np.inf  # padding never ties


@given(data=st.data())
def test_at_values_keeps_away_and_moves_onto_its_kinks(data):
    values = data.draw(st.sampled_from([(0.0,), (-1.0, 1.0), (0.25, 3.0)]), label="kinks")
    declared = kinks.at_values("x", values)
    x = data.draw(gs.shapes().flatmap(gs.arrays), label="x")
    example = Example({"x": x}, {"unused": 1})
    away = declared.away(example).inputs["x"]
    # The margin up to the rounding of kink + margin; the gradient check needs far less.
    assert declared.distance(Example({"x": away})) >= kinks.KINK_MARGIN * (1 - 1e-9)
    assert np.array_equal(away, x) or declared.distance(example) < kinks.KINK_MARGIN
    seed = data.draw(gs.seeds(), label="seed")
    on = declared.onto(example, np.random.default_rng(seed))
    assert on.hparams == example.hparams
    assert np.array_equal(example.inputs["x"], x)
    moved = on.inputs["x"] != x
    assert np.isin(on.inputs["x"][moved], values).all()
    assert declared.distance(on) == 0.0


def test_at_values_may_depend_on_the_hyperparameters():
    declared = kinks.at_values("x", lambda hp: (hp["threshold"],), where="x = threshold")
    example = Example({"x": np.array([0.0, 2.0005])}, {"threshold": 2.0})
    assert declared.distance(example) == pytest.approx(5e-4)
    assert declared.away(example).inputs["x"][1] == pytest.approx(2.001)
    assert declared.onto(example, np.random.default_rng(0)).inputs["x"].tolist().count(2.0) >= 1


@pytest.mark.parametrize(
    ("values", "where", "match"),
    [((0.0, 1e-3), "", "more than 2"), ((), "", "at least one"), (lambda hp: (0.0,), "", "need where=")],
)
def test_at_values_refuses_what_it_cannot_keep_apart(values, where, match):
    with pytest.raises(ValueError, match=match):
        kinks.at_values("x", values, where=where)


@given(gs.shapes(min_dims=4, max_dims=4).flatmap(gs.distinct_values), gs.seeds())
def test_ties_moves_onto_a_tie(x, seed):
    declared = kinks.ties("x")
    example = Example({"x": x})
    assert declared.distance(example) == pytest.approx(
        np.min(np.diff(np.sort(x.ravel()))) / 2 if x.size > 1 else np.inf
    )
    on = declared.onto(example, np.random.default_rng(seed))
    assert declared.distance(on) == (0.0 if x.size > 1 else np.inf)


@given(st.data())
def test_snapped_moves_only_onto_simple_values_inside_the_input_s_range(data):
    x = data.draw(gs.shapes().flatmap(gs.arrays), label="x")
    labels = np.arange(3)
    example = Example({"x": x, "y": labels})
    snapped = kinks.snapped(example, ["x", "y"], np.random.default_rng(data.draw(gs.seeds())))
    moved = snapped.inputs["x"] != x
    assert np.isin(snapped.inputs["x"][moved], kinks.SIMPLE_VALUES).all()
    assert x.min() <= snapped.inputs["x"].min()
    assert snapped.inputs["x"].max() <= x.max()
    assert snapped.inputs["y"] is labels  # not a float input: never snapped


@pytest.mark.parametrize(
    "spec", [s for s in registry.all_specs() if s.kinks and s.kinks.onto], ids=lambda spec: spec.name
)
@given(data=st.data())
def test_every_op_moves_onto_its_kinks(spec, data):
    # An onto that misses its kinks would let the at-kink property compare the op where it is smooth.
    example = data.draw(spec.examples)
    on = spec.kinks.onto(example, np.random.default_rng(data.draw(gs.seeds())))
    assert spec.kinks.distance(on) == 0.0 or spec.kinks.distance(example) == np.inf
