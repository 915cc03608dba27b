"""Kinks, declared once in each op's spec (:mod:`gradproof.core.kinks`), checked from both sides.

Property: on its kinks, every op that declares them equals its PyTorch twin, forward and backward.
The gradient properties keep away from kinks, so this is where an op's convention there is pinned:
ReLU'(0) = 0, leaky ReLU's negative slope at 0, a tied max-pool window's gradient to its first
maximum, a hinge margin of exactly 0 counted as not violated, sign(0) = 0 for the L1 loss.

Property: an op that declares no kinks has none where hand-written ops put them. Its examples,
snapped to simple values (0, +-0.5, +-1, +-2, and ties among them), must have one-sided difference
quotients that agree; an op that forgets to declare a kink fails here, with a message that says how
to declare it.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradproof.core import kinks, registry
from gradproof.core import strategies as gs
from gradproof.core.checks import UndeclaredKink, check_against_twin_at_kinks, check_differentiable_at
from gradproof.core.registry import Example, OpSpec

NO_KINKS = "declares no kinks: test_no_undeclared_kinks checks that it has none"
HAS_KINKS = "declares kinks: test_matches_torch_twin_at_kinks pins them"

# The snapped examples must stay valid for the op. Snapping keeps every input inside its own drawn
# range (so probabilities stay in (0, 1) and variances positive), which covers every op registered
# today; an op whose examples have a constraint a range cannot keep (rows that must sum to one and be
# read so, sorted values, ...) is listed here with the reason, and skipped where pytest shows it.
NOT_SNAPPED: dict[str, str] = {}


@given(data=st.data())
def test_matches_torch_twin_at_kinks(op_spec, data):
    if op_spec.kinks is None:
        pytest.skip(NO_KINKS)
    if op_spec.kinks.onto is None:
        pytest.skip(f"no at-kink examples: {op_spec.kinks.not_pinned}")
    example = data.draw(op_spec.examples, label=f"{op_spec.name} example")
    seed = data.draw(gs.seeds(), label="seed")  # after the example: see gradproof.core.strategies.seeds
    check_against_twin_at_kinks(op_spec, example, seed=seed)


def assert_no_undeclared_kink(spec: OpSpec, data) -> None:
    """The body of :func:`test_no_undeclared_kinks`, for any spec (the test below plants one)."""
    example = data.draw(spec.examples, label=f"{spec.name} example")
    seed = data.draw(gs.seeds(), label="seed")
    snapped = kinks.snapped(example, list(example.inputs), np.random.default_rng(seed))
    check_differentiable_at(
        spec, snapped, seed=seed, context=f"  some elements snapped to {kinks.SIMPLE_VALUES} with seed {seed}"
    )


# A fifth of the profile's examples (10 in dev, 20 in ci, 200 in thorough): it runs over every op
# without kinks, with two full finite-difference sweeps per example; a kink at a simple value shows up
# in most snapped examples, so a few suffice.
@settings(max_examples=max(10, settings.default.max_examples // 5))
@given(data=st.data())
def test_no_undeclared_kinks(op_spec, data):
    if op_spec.kinks is not None:
        pytest.skip(HAS_KINKS)
    if op_spec.name in NOT_SNAPPED:
        pytest.skip(f"not snapped: {NOT_SNAPPED[op_spec.name]}")
    assert_no_undeclared_kink(op_spec, data)


def abs_forward(x):
    return np.abs(x), x


def abs_backward(dout, cache):
    return dout * np.sign(cache)


def test_an_op_that_forgets_its_kink_fails():
    # |x| with its kink at 0 undeclared, examples kept away from 0 by hand: every other property
    # passes, and the backward's sign(0) = 0 is the mean of the two slopes, so finite differences of
    # the backward alone cannot see the kink either. Only snapping finds it.
    registry.register(
        OpSpec(
            name="abs_undeclared",
            forward=abs_forward,
            backward=abs_backward,
            twin=lambda x: x.abs(),
            examples=gs.shapes(max_dims=2).flatmap(
                lambda shape: gs.arrays(shape, elements=gs.away_from((0.0,))).map(lambda x: Example({"x": x}))
            ),
            differentiable=("x",),
        )
    )
    try:
        spec = registry.get("abs_undeclared")

        @settings(max_examples=50, derandomize=True, database=None)
        @given(data=st.data())
        def property_on_it(data):
            assert_no_undeclared_kink(spec, data)

        with pytest.raises(UndeclaredKink) as failure:
            property_on_it()
    finally:
        registry.unregister("abs_undeclared")
    message = str(failure.value)
    assert "abs_undeclared dx: kink at x" in message
    assert "= 0: the slope of <dout, forward>" in message
    assert "declares no kinks; if this one is the op's own, declare" in message
    assert "kinks=gradproof.core.kinks.at_values('x', (0.0,))" in message
