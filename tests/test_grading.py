"""Grading end to end: planted bugs in the three APIs, and candidates that misbehave, each graded in a
pytest run of its own; the verdicts are read from the Gradescope results.json it writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gradproof import cli

HERE = Path(__file__).parent / "candidates"
QUICK = """
[tool.gradproof.hypothesis.profiles.quick]
max_examples = 10
derandomize = true
database = false
# These tests check that each planted bug fails the right check with the right message, which the
# first failing example shows as well as a shrunk one; shrinking (most of a failing grade's time,
# up to a minute for one check of loop code) is Hypothesis's own business and is left out here.
phases = ["explicit", "reuse", "generate"]
"""


def grade(pytester: pytest.Pytester, *candidates: str, options: tuple[str, ...] = ()) -> tuple[dict, object]:
    """Grade ``candidates`` (files of tests/candidates) in a fresh pytest process; the results.json
    and the run's result."""
    pytester.makefile(".toml", pyproject=QUICK)
    out = pytester.path / "results.json"
    args = [
        "--pyargs",
        "gradproof.grading.grade_tests",
        "--hypothesis-profile=quick",
        f"--grade-json={out}",
        *options,
    ]
    args += [f"--candidate={HERE / name}" for name in candidates]
    result = pytester.runpytest_subprocess(*args)
    return json.loads(out.read_text()), result


def by_name(results: dict) -> dict[str, dict]:
    return {test["name"]: test for test in results["tests"]}


def test_misbehaving_candidates_fail_each_op_with_its_reason(pytester):
    results, run = grade(
        pytester,
        "misbehaving.py",
        "exits_at_import.py",
        "syntax_error.py",
        options=("--candidate-timeout=0.3",),
    )
    assert "INTERNALERROR" not in run.stdout.str()
    tests = by_name(results)
    expected = {
        "relu": "relu_forward raised ValueError: relu is not done yet",
        "tanh": "returned None: not implemented yet",
        "elu": "returned list instead of a NumPy array",
        "leaky_relu": "NaN",
        "softplus": "mutated its input x",
        "gelu": "timed out after 3 s of wall-clock time",
        "log_softmax": "crashed: the candidate's process exited with code 0",
        "softmax": "called sys.exit(0)",
    }
    for op, reason in expected.items():
        test = tests[f"misbehaving: {op}"]
        assert test["status"] == "failed", op
        assert reason in test["output"], (op, test["output"][:2000])
    # The transposed affine: its output has the shape of the reference's, transposed.
    affine = tests["misbehaving: affine"]
    assert affine["status"] == "failed"
    assert re.search(
        r"affine forward: yours has shape \((\d+), (\d+)\), expected shape \(\2, \1\)", affine["output"]
    )
    # The one correct op gets its points, whatever the others did, and NumPy patched in the
    # candidate's process changed nothing here.
    assert tests["misbehaving: sigmoid"]["status"] == "passed"
    assert tests["misbehaving: sigmoid"]["score"] == 1.0
    assert "called sys.exit(0)" in run.stdout.str()  # exits_at_import: one failed import check
    assert "SyntaxError" in run.stdout.str()
    # Partial credit is per check: the transposed affine still passes its contracts (its
    # backward is not judged against a forward of another shape than the reference's).
    assert tests["misbehaving: affine"]["score"] == 0.25


def test_planted_cs231n_bugs_are_caught_by_the_right_check(pytester):
    results, run = grade(pytester, "cs231n_bugs.py")
    tests = by_name(results)
    assert "cs231n API" in run.stdout.str()

    def output(op):
        return tests[f"cs231n_bugs: {op}"]["output"]

    # Forgot dout: the backward is wrong against the reference and against its own forward.
    assert re.search(
        r"backward: FAILED\nyour affine d(x|w|b) equals [^\n]*dout[^\n]*\naffine d", output("affine")
    )
    assert "also disagrees with finite differences of its own forward" in output("affine")
    assert "forward: passed" in output("affine")
    # The stride forgotten in the conv backward only: the forward passes.
    assert "forward: passed" in output("conv2d")
    assert "backward: FAILED" in output("conv2d")
    # Softmax loss summed, not averaged: the forward is wrong, and its dx is the averaged one.
    assert "forward: FAILED\nyour softmax_loss forward equals the loss summed over the batch" in output(
        "softmax_loss"
    )
    # PyTorch's momentum convention in batch norm: a running statistic is wrong, said so. Which one
    # depends on the shrunk example: on x = 0 the batch mean equals the running mean, and only
    # running_var shows the bug (momentum 0: the course keeps nothing, the bug keeps everything).
    assert re.search(
        r"forward: FAILED\nyour batchnorm running_(mean|var) equals the running average with momentum and "
        r"1 - momentum swapped: [^\n]*\nbatchnorm running_(mean|var): yours differs",
        output("batchnorm"),
    )
    assert "momentum" not in tests  # no such op
    assert "sgd_momentum next_w" in output("sgd_momentum") or "velocity" in output("sgd_momentum")
    assert "adam next_w" in output("adam")
    # Dropout not inverted: kept units are not scaled by 1 / p (and test mode scales by p).
    assert re.search(
        r"forward: FAILED\nyour dropout forward equals [^\n]*\ndropout forward: yours differs",
        output("dropout"),
    )
    for op in ("affine", "conv2d", "softmax_loss", "batchnorm", "sgd_momentum", "adam", "dropout"):
        assert tests[f"cs231n_bugs: {op}"]["status"] == "failed", op


def test_planted_coursera_bug_is_caught_in_the_notebooks_terms(pytester):
    results, run = grade(pytester, "coursera_bugs.py", "pad_slicing_bug.py")
    tests = by_name(results)
    assert "coursera API" in run.stdout.str()
    assert tests["coursera_bugs: zero_pad"]["status"] == "passed"
    conv = tests["coursera_bugs: conv2d"]["output"]
    assert "forward: passed" in conv
    assert "conv2d db" in conv  # the notebook's names, not the reference's
    assert tests["coursera_bugs: conv2d"]["status"] == "failed"
    # The template's dA_prev_pad[pad:-pad, pad:-pad] is empty for pad = 0, and only then.
    pad = tests["pad_slicing_bug: conv2d"]["output"]
    assert "forward: passed" in pad
    assert re.search(r"conv2d dA_prev: yours has shape \(\d+, 0, 0, \d+\), expected shape", pad)
    assert "pad=0" in pad


def gradproof_grade(cwd: Path, candidate: str, out: Path) -> subprocess.CompletedProcess:
    """`gradproof grade CANDIDATE --json OUT --profile dev`, run in ``cwd`` as a user would."""
    main = "import sys; from gradproof.cli import main; sys.exit(main())"
    argv = [
        sys.executable,
        "-c",
        main,
        "grade",
        str(HERE / candidate),
        "--json",
        str(out),
        "--profile",
        "dev",
    ]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True)


def test_gradproof_grade_writes_full_marks_for_a_correct_candidate(tmp_path):
    out = tmp_path / "r.json"
    assert gradproof_grade(tmp_path, "relu_only.py", out).returncode == 0
    results = json.loads(out.read_text())
    assert results["score"] == results["max_score"] == 1.0
    assert set(results) >= {"score", "max_score", "execution_time", "tests"}
    (test,) = [t for t in results["tests"] if t["name"] == "relu_only: relu"]
    assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
    # Nothing else is written where the grade ran: no .hypothesis/, .benchmarks/ or .pytest_cache/.
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_grade_command_line_attaches_option_values():
    args, extra = cli._parser().parse_known_args(["grade", "a.py", "b.py", "--json", "r.json", "-x"])
    argv = cli.pytest_args(args, extra)
    assert "--candidate=a.py" in argv
    assert "--candidate=b.py" in argv
    assert "--grade-json=r.json" in argv
    assert argv[-1] == "-x"


@pytest.mark.parametrize(
    ("params", "api"),
    [
        ({"conv_forward": 4, "conv_backward": 2, "pool_forward": 3}, "coursera"),
        ({"conv_forward": 6, "conv_backward": 6, "pool_forward": 4}, "bootcamp"),
        ({}, "coursera"),  # signatures unknown: the older API wins the tie
    ],
)
def test_apis_sharing_function_names_are_told_apart_by_their_parameters(params, api):
    from gradproof.grading.courses import detect

    assert detect({"conv_forward", "conv_backward", "pool_forward"}, params).name == api


def test_an_activation_travels_to_the_worker_as_a_numpy_ufunc():
    import numpy as np

    from gradproof.grading import wire

    arrays: list = []
    sent = wire.encode((np.tanh, np.positive), arrays)
    assert sent == {"$t": [{"$f": "tanh"}, {"$f": "positive"}]}
    assert wire.decode(sent, arrays) == (np.tanh, np.positive)
    with pytest.raises(ValueError, match="not a NumPy ufunc"):
        wire.decode({"$f": "load"}, [])  # np.load: a function, not a ufunc, never called by name


def test_a_grade_out_of_time_is_incomplete_and_keeps_every_planned_check(pytester):
    """Checks that never ran (interrupted, out of --total-timeout) score 0 and stay in max_score."""
    results, run = grade(pytester, "relu_only.py", options=("--total-timeout=0",))
    relu = by_name(results)["relu_only: relu"]
    assert (results["score"], results["max_score"]) == (0, 1.0)
    assert relu["status"] == "failed"
    assert results["output"].startswith("incomplete: 4 planned checks did not run")
    assert "score: 0.00 / 1.00 (incomplete: 4 checks did not run)" in run.stdout.str()


def test_gradproof_grade_ignores_a_conftest_and_an_ini_where_it_runs(tmp_path):
    """A submission folder's conftest.py would run in the grader, and its pytest.ini could switch
    gradproof off: `gradproof grade` reads pytest's own configuration only."""
    (tmp_path / "conftest.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('the grader')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:gradproof\n")
    out = tmp_path / "r.json"
    run = gradproof_grade(tmp_path, "relu_only.py", out)
    assert run.returncode == 0, run.stdout[-2000:]
    assert not (tmp_path / "ran").exists()
    assert json.loads(out.read_text())["score"] == 1.0


DIAGNOSED = {
    "cs231n_mistakes: max_pool2d": "your max_pool2d dx ",
    "cs231n_mistakes: softmax_loss": "your softmax_loss dx equals softmax(x) / N without the -1 at the label",
    "cs231n_mistakes: rmsprop": "your rmsprop next_w equals RMSProp without the square root (dw / (cache + ",
    "cs231n_residuals: affine": (
        "your affine dw equals the reference's for the last example of the batch alone: the other examples' "
        "contributions are overwritten (=) where they must add up (+=)"
    ),
    "cs231n_residuals: layernorm": "your layernorm dx differs from the reference by ",
    "bootcamp_mistakes: momentum": "your momentum next_w equals momentum without the (1 - beta1) factor",
    "bootcamp_mistakes: Adam": "your Adam next_w equals Adam without bias correction",
    "coursera_mistakes: avg_pool2d": "your avg_pool2d dA_prev equals dA copied to every element",
    "native_mistakes: sigmoid": "your sigmoid dx equals dout * sigmoid(x), without the factor 1 - sigmoid(x)",
}


def test_planted_mistakes_are_named_first_in_every_api(pytester):
    """Each planted mistake's failure (tests/candidates/mutants/) begins with its diagnosis, in the
    Gradescope output as in the terminal's table; the right op of the same file has none."""
    files = [f"mutants/{name}_{kind}.py" for name, kind in (("cs231n", "mistakes"), ("cs231n", "residuals"))]
    files += [f"mutants/{name}_mistakes.py" for name in ("bootcamp", "coursera", "native")]
    results, run = grade(pytester, *files)
    tests = by_name(results)
    for name, start in DIAGNOSED.items():
        test = tests[name]
        assert test["status"] == "failed", name
        failed = test["output"].split(": FAILED\n", 1)[1]
        assert failed.startswith(start), (name, failed[:400])
        assert start[:60] in run.stdout.str(), name
    # Windows that overlap: the two forms of "=" for "+=" share their diagnosis, or the residual says where.
    assert re.match(
        r"your max_pool2d dx (equals the gradient with each window's share assigned \(=\) where it must be "
        r"added \(\+=\)|is right everywhere except on elements that more than one window reads)",
        tests["cs231n_mistakes: max_pool2d"]["output"].split(": FAILED\n", 1)[1],
    )
    assert tests["coursera_mistakes: max_pool2d"]["status"] == "passed"
