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
        " ops: add, affine, ",
        "test_ops.py::test_property[affine] PASSED",
        "test_ops.py::test_property[sigmoid] FAILED",
        "gradproof: reproduce",
        "pytest 'test_ops.py::test_property[sigmoid]' --hypothesis-profile dev",
    ]
    positions = [output.find(line) for line in expected_in_order]
    assert -1 not in positions, output
    assert positions == sorted(positions), output
