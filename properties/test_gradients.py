"""Property 1: every op's backward equals finite differences of its own forward."""

from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.checks import check_gradients


@given(data=st.data())
def test_backward_matches_finite_differences(op_spec, data):
    example = data.draw(op_spec.examples, label=f"{op_spec.name} example")
    seed = data.draw(gs.seeds(), label="seed")  # after the example: see gradproof.core.strategies.seeds
    check_gradients(op_spec, example, seed=seed)
