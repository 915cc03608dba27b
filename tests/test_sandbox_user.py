"""The fallback where bubblewrap cannot run (Docker's default profile) and the grader is root: the
worker runs as the dedicated unprivileged user `gradproof worker-user` makes. Tested here with
bwrap hidden from the PATH: an honest file keeps its marks, and the attacks gain nothing, stop
nothing of the grader's and leave nothing running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from gradproof.grading import sandbox
from tests.test_grading import by_name, grade

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="the fallback runs candidates as another user: the grader must be root, with useradd",
)


@pytest.fixture
def without_bwrap(monkeypatch):
    sandbox.make_worker_user()
    # Only this Python's folder on the PATH: no bwrap, as in a Docker container without it.
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    if sandbox.worker_user() is None:
        pytest.fail("the worker user cannot run a Python of this version or read NumPy here")


def left_running() -> list[str]:
    """The processes of the workers' uids still running."""
    table = subprocess.run(["/usr/bin/ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    return [line for line in table.splitlines() if int(line.split()[0]) >= sandbox.UID_BASE]


def test_an_honest_file_keeps_its_marks_as_the_worker_user(pytester, without_bwrap):
    results, run = grade(pytester, "relu_only.py", options=("--require-sandbox",))
    assert results["score"] == results["max_score"] == 1
    assert "graded without isolation" not in run.stdout.str()


def test_the_attacks_gain_nothing_as_the_worker_user(pytester, without_bwrap, monkeypatch):
    secret = "s3cr3t-token-5678"
    monkeypatch.setenv("GRADPROOF_ATTACK_TOKEN", secret)
    results, run = grade(
        pytester,
        "attacks/kill_everything.py",
        "attacks/detached_sleeper.py",
        "attacks/read_secrets.py",
        "attacks/import_reference.py",
        options=("--require-sandbox", "--candidate-timeout=2", "--candidate-api=cs231n"),
    )
    tests = by_name(results)
    # It may not signal the grader, nor the other candidates' workers (each runs under a uid of
    # its own): the grade runs to its end, and the others are graded as they would be alone.
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert tests["kill_everything: relu"]["score"] == 0
    others = {name: t["output"] for name, t in tests.items() if not name.startswith("kill_everything")}
    assert not [name for name, output in others.items() if "timed out" in output]
    # Its detached child was killed with the worker: nothing of the worker user runs on.
    assert tests["detached_sleeper: relu"]["score"] == 1  # its maths is right
    assert left_running() == []
    # The grader's environment stays outside; the answer and autograd are refused.
    assert secret not in str(results)
    assert tests["read_secrets: relu"]["score"] == 0
    assert "ImportError: import of gradproof refused" in tests["import_reference: affine"]["output"]
