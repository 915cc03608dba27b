"""Property 2: every op's forward and backward equal its PyTorch twin's, in float64."""

from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.checks import check_against_twin


@given(data=st.data())
def test_matches_torch_twin(op_spec, data):
    example = data.draw(op_spec.examples, label=f"{op_spec.name} example")
    seed = data.draw(gs.seeds(), label="seed")  # after the example: see gradproof.core.strategies.seeds
    check_against_twin(op_spec, example, seed=seed)
