"""Run a check over many drawn examples, as a property does, and return how it failed."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gradproof.core import checks
from gradproof.core import strategies as gs

CHECKS = {
    "gradients": checks.check_gradients,
    "twin": checks.check_against_twin,
    "twin_at_kinks": checks.check_against_twin_at_kinks,
    "linearity": checks.check_backward_linearity,
    "contracts": checks.check_contracts,
}

SEARCH = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)


def search(check: str, spec, *, shrink: bool = True) -> None:
    """Run ``check`` on up to 200 derandomised examples of ``spec``; raise the (shrunk) failure."""

    @settings(SEARCH, **({} if shrink else {"phases": [Phase.explicit, Phase.reuse, Phase.generate]}))
    @given(data=st.data())
    def run(data):
        example = data.draw(spec.examples)
        CHECKS[check](spec, example, seed=data.draw(gs.seeds()))

    run()
