"""Property 4: no op mutates its inputs; outputs are finite, of the documented shapes and dtypes,
and the same on a second call. And every op plug-in loads."""

from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import registry
from gradproof.core import strategies as gs
from gradproof.core.checks import check_contracts


@given(data=st.data())
def test_contracts(op_spec, data):
    example = data.draw(op_spec.examples, label=f"{op_spec.name} example")
    seed = data.draw(gs.seeds(), label="seed")  # after the example: see gradproof.core.strategies.seeds
    check_contracts(op_spec, example, seed=seed)


def test_op_plugins_load():
    errors = registry.plugin_errors()
    assert not errors, "op plug-ins failed to load:\n" + "\n".join(
        f"--- {name}\n{trace}" for name, trace in errors.items()
    )
