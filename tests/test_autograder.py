"""``gradproof autograder``: the Gradescope bundle, unpacked into a temporary root laid out as
Gradescope lays out ``/autograder``, its ``run_autograder`` run on a correct and a buggy submission.

gradproof is installed here already: the test skips ``setup.sh`` (apt and pip), not
``run_autograder``, which it points at this Python with ``GRADPROOF_PYTHON``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gradproof.cli import main
from gradproof.grading.sandbox import bwrap
from tests.test_grading import HERE

CLASS = HERE / "class"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    points = folder / "points.toml"
    points.write_text("[points]\nrelu = 2\nsigmoid = 1\n")
    output = folder / "autograder.zip"
    argv = ["autograder", "--api", "native", "--points", str(points), "-o", str(output)]
    assert main([*argv, "--profile", "dev", "--timeout", "0.5"]) == 0
    return output


def run_autograder(bundle: Path, root: Path, submission: Path) -> tuple[dict, str]:
    """Lay out ``root`` as Gradescope does (``source/`` the unpacked zip, ``submission/`` the
    student's files, ``run_autograder`` copied to the top) and run it."""
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    shutil.copy(submission, root / "submission" / submission.name)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    env = {**os.environ, "GRADPROOF_AUTOGRADER_ROOT": str(root), "GRADPROOF_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done.stdout


def test_the_bundle_holds_what_gradescope_runs(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        setup = zf.read("setup.sh").decode()
        requirements = zf.read("requirements.txt").decode().split()
        mode = zf.getinfo("run_autograder").external_attr >> 16
    assert {"setup.sh", "run_autograder", "requirements.txt", "points.toml"} <= names
    assert {
        "gradproof-src/pyproject.toml",
        "gradproof-src/gradproof/cli.py",
        "gradproof-src/reference/conv.py",
    } <= names
    assert "apt-get install -y --no-install-recommends bubblewrap" in setup
    assert "-m gradproof.cli worker-user" in setup  # where Docker stops bubblewrap
    assert all("==" in line for line in requirements)
    assert any(line.startswith("numpy==") for line in requirements)
    assert mode & 0o111  # executable


@pytest.mark.skipif(bwrap() is None, reason="bubblewrap cannot run here: --require-sandbox refuses")
def test_run_autograder_grades_a_correct_and_a_buggy_submission(bundle, tmp_path):
    correct, log = run_autograder(bundle, tmp_path / "correct", CLASS / "ada.py")
    assert (correct["score"], correct["max_score"]) == (3.0, 3.0)
    assert "score: 3.00 / 3.00" in log
    assert not any(t["name"].endswith("isolation") for t in correct["tests"])  # sandboxed
    buggy, _ = run_autograder(bundle, tmp_path / "buggy", CLASS / "bob.py")
    tests = {t["name"].partition(": ")[2]: t for t in buggy["tests"]}
    assert (buggy["score"], buggy["max_score"]) == (2.0, 3.0)
    assert tests["relu"]["status"] == "failed"
    assert "relu dx: yours differs from reference" in tests["relu"]["output"]
    assert tests["sigmoid"]["status"] == "passed"


def test_a_grader_that_writes_nothing_still_leaves_results_that_say_so(bundle, tmp_path):
    root = tmp_path / "root"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    broken = tmp_path / "python"
    broken.write_text(
        f'#!/bin/sh\n[ "$1" = - ] && exec {sys.executable} "$@"\necho \'no gradproof here\' >&2\nexit 3\n'
    )
    broken.chmod(0o755)
    env = {**os.environ, "GRADPROOF_AUTOGRADER_ROOT": str(root), "GRADPROOF_PYTHON": str(broken)}
    subprocess.run(
        ["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, check=True
    )
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0
    assert "gradproof exited with code 3 and wrote no results" in results["output"]
    assert "no gradproof here" in results["output"]


def test_a_bundle_for_numpy_1_installs_it_and_grades_with_it(tmp_path):
    output = tmp_path / "autograder.zip"
    assert main(["autograder", "--api", "coursera", "--numpy", "1.26.4", "-o", str(output)]) == 0
    with zipfile.ZipFile(output) as zf:
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
    assert "-m gradproof.cli numpy-env 1.26.4" in setup
    assert "--numpy 1.26.4" in run


def test_a_coursera_bundle_installs_the_courses_numpy(tmp_path):
    """Coursera's notebooks ran NumPy 1, which the grade uses by default where it is installed."""
    output = tmp_path / "autograder.zip"
    assert main(["autograder", "--api", "coursera", "-o", str(output)]) == 0
    with zipfile.ZipFile(output) as zf:
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
    assert "-m gradproof.cli numpy-env 1.26.4" in setup
    assert "--numpy" not in run
