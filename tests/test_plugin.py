"""The pytest plugin, driven as a user drives it: pytest runs in a scratch project."""

import subprocess
import sys

import pytest

PROJECT = """
[tool.gradproof.hypothesis]
default-profile = "dev"
ci-profile = "ci"

[tool.gradproof.hypothesis.profiles.dev]
max_examples = 7

[tool.gradproof.hypothesis.profiles.ci]
max_examples = 11
derandomize = true
database = false
"""

REPORT_PROFILE = """
from hypothesis import settings

def test_profile():
    current = settings.default
    print(f"PROFILE {settings.get_current_profile_name()} {current.max_examples} {current.derandomize} "
          f"{current.database} {current.deadline}")
"""


@pytest.mark.parametrize("module", ["gradproof.plugin", "gradproof", "reference"])
def test_loading_does_not_import_torch(module):
    code = (
        f"import sys, {module}; from gradproof.core import registry; registry.all_specs(); "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"importing {module} imported torch"


@pytest.mark.parametrize(
    ("ci", "args", "expected"),
    [
        (False, [], "PROFILE dev 7 False"),
        (True, [], "PROFILE ci 11 True None None"),
        (False, ["--hypothesis-profile", "ci"], "PROFILE ci 11 True None None"),
        (True, ["--hypothesis-profile", "thorough"], "PROFILE thorough 1000 False"),
    ],
)
def test_profiles_come_from_pyproject(pytester, monkeypatch, ci, args, expected):
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makepyprojecttoml(PROJECT)
    pytester.makepyfile(REPORT_PROFILE)
    result = pytester.runpytest_subprocess("-s", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{expected}*"])


def test_op_tests_are_parametrised_by_name_and_failures_say_how_to_reproduce(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyprojecttoml(PROJECT)
    pytester.makepyfile(
        test_ops="""
        def test_property(op_spec):
            assert op_spec.name != "sigmoid", "planted failure"
        """
    )
    result = pytester.runpytest_subprocess("-v", "-k", "affine or sigmoid")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    expected_in_order = [
        "test_ops.py::test_property[affine] PASSED",
        "test_ops.py::test_property[sigmoid] FAILED",
        "gradproof: reproduce",
        "pytest 'test_ops.py::test_property[sigmoid]' --hypothesis-profile dev",
    ]
    positions = [output.find(line) for line in expected_in_order]
    assert -1 not in positions, output
    assert positions == sorted(positions), output


UNRELATED_CONFTEST = """
from hypothesis import settings

settings.register_profile("ci", max_examples=3)
settings.register_profile("dev", max_examples=4)
settings.load_profile("ci")
"""


def test_a_project_that_did_not_ask_for_gradproof_keeps_its_own_profiles(pytester, monkeypatch):
    """Installing gradproof registers only profiles it owns (gradproof-*) in an unrelated project:
    that project's own `ci` and `dev` keep their settings, loaded or chosen."""
    monkeypatch.delenv("CI", raising=False)  # Hypothesis itself loads its own `ci` profile under CI
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\n")
    pytester.makeconftest(UNRELATED_CONFTEST)
    pytester.makepyfile(REPORT_PROFILE)
    result = pytester.runpytest_subprocess("-s", "-p", "gradproof")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PROFILE ci 3 False *0:00:00.200000*"])
    result = pytester.runpytest_subprocess("-s", "-p", "gradproof", "--hypothesis-profile", "dev")
    result.stdout.fnmatch_lines(["*PROFILE dev 4 False *0:00:00.200000*"])
    # gradproof's own are there, under its names, for who asks for them.
    result = pytester.runpytest_subprocess("-s", "--hypothesis-profile", "gradproof-ci")
    result.stdout.fnmatch_lines(["*PROFILE gradproof-ci 100 True None None*"])


def test_collect_only_runs_no_candidate_code(pytester, tmp_path):
    """Collecting the grading tests plans the units from the candidate's source: its code never runs
    (a worker would import it; this one leaves a file behind if it does)."""
    marker = tmp_path / "ran"
    candidate = pytester.makepyfile(
        candidate=f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("imported")

        def relu_forward(x):
            return x * (x > 0), x

        def relu_backward(dout, cache):
            return dout * (cache > 0)
        """
    )
    result = pytester.runpytest_subprocess(
        "--pyargs", "gradproof.grading.grade_tests", f"--candidate={candidate}", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["*test_forward?candidate-relu?*"])
    assert not marker.exists()
    assert "gradproof grade" not in result.stdout.str()
