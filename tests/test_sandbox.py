"""Attacks on the grader, each graded as `gradproof grade` would grade it: none gains a point, reads
the grader's secrets or files, leaves a process behind or writes outside its sandbox."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from gradproof.grading import sandbox
from tests.test_grading import HERE, by_name, grade

needs_sandbox = pytest.mark.skipif(
    sandbox.bwrap() is None,
    reason="bubblewrap (bwrap) is not installed or cannot create namespaces here: these attacks would "
    "reach this machine's processes and files (`apt-get install bubblewrap`)",
)


@needs_sandbox
def test_the_reference_the_oracles_and_torch_cannot_be_imported(pytester):
    results, _ = grade(pytester, "attacks/import_reference.py", options=("--candidate-api=cs231n",))
    tests = by_name(results)
    affine, relu = tests["import_reference: affine"], tests["import_reference: relu"]
    assert affine["score"] == 0 < affine["max_score"]
    # Refused by the worker before the sandbox's missing files would say "No module named".
    assert "ImportError: import of gradproof refused: this assignment is graded on NumPy" in affine["output"]
    assert relu["score"] < relu["max_score"]
    assert "ImportError: import of torch refused" in relu["output"]


@needs_sandbox
def test_the_graders_environment_and_files_stay_outside(pytester, monkeypatch):
    secret = "s3cr3t-token-1234"
    monkeypatch.setenv("GRADPROOF_ATTACK_TOKEN", secret)
    monkeypatch.setenv("GRADPROOF_ATTACK_FILE", sandbox.__file__)
    results, run = grade(pytester, "attacks/read_secrets.py")
    relu = by_name(results)["read_secrets: relu"]
    assert relu["score"] == 0
    assert "token=no token file=unreadable (FileNotFoundError)" in relu["output"]
    assert secret not in str(results)
    assert secret not in run.stdout.str()


@needs_sandbox
def test_nothing_of_the_candidate_outlives_the_grade(pytester, monkeypatch, tmp_path):
    marker = tmp_path / "results.json"
    monkeypatch.setenv("GRADPROOF_ATTACK_FILE", str(marker))
    results, _ = grade(pytester, "attacks/detached_writer.py")
    assert by_name(results)["detached_writer: relu"]["status"] == "passed"  # its maths is right
    time.sleep(6)  # the detached child would write after 4 s
    assert not marker.exists()
    left = subprocess.run(["pgrep", "-f", "detached_writer"], capture_output=True, text=True).stdout
    assert left == ""


@needs_sandbox
def test_a_worker_that_signals_every_process_it_sees_stops_only_itself(pytester):
    results, run = grade(pytester, "attacks/kill_everything.py", options=("--candidate-timeout=2",))
    relu = by_name(results)["kill_everything: relu"]
    assert relu["score"] == 0
    assert "crashed" in relu["output"] or "timed out" in relu["output"]
    assert run.ret == pytest.ExitCode.TESTS_FAILED  # the grade ran to its end, and wrote its results


@needs_sandbox
def test_resource_attacks_fail_their_own_op_and_say_which_limit(pytester):
    """Memory, output, file descriptors, a stopped process, the grader's memory: each attack fails
    its own op with the limit it hit, the grade runs to its end, and an honest file beside them
    keeps its marks."""
    attacks = ("memory_hog", "output_flood", "open_files", "stops_itself", "reads_grader_memory")
    results, run = grade(
        pytester,
        *(f"attacks/{name}.py" for name in attacks),
        "relu_only.py",
        options=("--candidate-timeout=2", "--candidate-api=cs231n"),
    )
    tests = by_name(results)
    output = {name: tests[f"{name}: relu"]["output"] for name in attacks}
    assert "MemoryError" in output["memory_hog"]
    assert "(the grader's limit: 8 GiB of memory (address space))" in output["memory_hog"]
    assert "(the grader's limit: files of at most 64 MiB)" in output["output_flood"]
    assert len(tests["output_flood: relu"]["output"]) < 10_000  # the flood is not in the report
    assert "(the grader's limit: at most 256 open files)" in output["open_files"]
    assert "timed out: its process was stopped (SIGSTOP" in output["stops_itself"]  # seen at once
    # In its own PID namespace the worker sees no grader to read: it computes relu, as asked.
    assert tests["reads_grader_memory: relu"]["score"] == 1
    for name in attacks[:4]:
        assert tests[f"{name}: relu"]["score"] == 0, name
    assert tests["relu_only: relu"]["score"] == 1
    assert "INTERNALERROR" not in run.stdout.str()


@needs_sandbox
def test_the_grader_and_the_submissions_folder_cannot_be_written(pytester):
    import site

    import gradproof

    results, _ = grade(pytester, "attacks/tamper.py", options=("--candidate-api=cs231n",))
    assert by_name(results)["tamper: relu"]["score"] == 1  # it computes relu; it changed nothing
    folders = [Path(gradproof.__file__).parent, *map(Path, site.getsitepackages()), HERE / "attacks", HERE]
    assert [str(f) for f in folders if (f / "gradproof_tamper_marker.py").exists()] == []
