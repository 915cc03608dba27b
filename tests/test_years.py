"""Template-faithful, correct cs231n solutions of each set of conventions (tests/candidates/years/):
full marks under their year, nothing deducted for what the template leaves open. 2019 and 2021
differ only in group norm's gamma shape, which is probed where the year is only assumed."""

from __future__ import annotations

import pytest

from tests.test_grading import by_name, grade


def test_2019_and_2021_solutions_get_full_marks_with_the_year_assumed(pytester):
    results, _ = grade(
        pytester, "years/cs231n_2019", "years/cs231n_2021", options=("--candidate-api=cs231n",)
    )
    tests = by_name(results)
    for year in ("2019", "2021"):
        scores = [t for name, t in tests.items() if name.startswith(f"cs231n_{year}: ") and t["max_score"]]
        assert len(scores) == 16  # layers.py's 12 units and optim.py's 4
        lost = {t["name"]: t["output"][:500] for t in scores if t["score"] != t["max_score"]}
        assert not lost, lost
    note = "note: written for gamma and beta of shape (1, C, 1, 1), not gamma and beta of shape (C,)"
    assert note in tests["cs231n_2021: spatial_groupnorm"]["output"]
    assert "note: written for" not in tests["cs231n_2019: spatial_groupnorm"]["output"]
    assert results["score"] == results["max_score"] == 32


@pytest.mark.parametrize("year", ["2016", "2017"])
def test_2016_and_2017_solutions_get_full_marks_under_their_convention(pytester, year):
    results, _ = grade(pytester, f"years/cs231n_{year}", options=(f"--convention=cs231n-{year}",))
    tests = by_name(results)
    lost = {t["name"]: t["output"][:500] for t in results["tests"] if t["score"] != t["max_score"]}
    assert not lost, lost
    # Their templates have no layer or group norm: not asked for, not counted.
    assert results["score"] == results["max_score"] == 14
    assert f"cs231n_{year}: layernorm" not in tests
    assert "how it was loaded" not in " ".join(tests)  # optim.py's late docstring is no statement


def test_a_template_faithful_bootcamp_solution_gets_full_marks(pytester):
    """The CNN project's four files and the optimization project's three update rules."""
    results, _ = grade(pytester, "years/bootcamp")
    lost = {t["name"]: t["output"][:500] for t in results["tests"] if t["score"] != t["max_score"]}
    assert not lost, lost
    assert results["score"] == results["max_score"] == 6
