"""Property 3: every op's backward is linear in the upstream gradient."""

from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.checks import check_backward_linearity


@given(data=st.data())
def test_backward_is_linear_in_upstream_gradient(op_spec, data):
    example = data.draw(op_spec.examples, label=f"{op_spec.name} example")
    seed = data.draw(gs.seeds(), label="seed")  # after the example: see gradproof.core.strategies.seeds
    check_backward_linearity(op_spec, example, seed=seed)
