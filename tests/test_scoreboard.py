"""The session's plan, the scoreboard and what the grade looks like (the table, the Gradescope JSON), in
this process: a session is planned from the candidates' sources and no worker starts, so the outcomes
are recorded here by hand, as the plugin records them after each grading test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradproof.grading import render
from gradproof.grading.candidates import from_spec
from gradproof.grading.scoreboard import Outcome, Scoreboard, load_points
from gradproof.grading.session import Options, Session, plan
from tests.inprocess import CANDIDATES

RELU_ONLY = from_spec(str(CANDIDATES / "relu_only.py"))
CS231N_BUGS = from_spec(str(CANDIDATES / "cs231n_bugs.py"))


@pytest.fixture
def session_of():
    """``session_of(*candidates, **options)``: a planned session, closed after the test."""
    sessions = []

    def make(*candidates, **options) -> Session:
        sessions.append(Session(list(candidates), Options(**options)))
        return sessions[-1]

    yield make
    for session in sessions:
        session.close()
    assert all(grade.worker._process is None for session in sessions for grade in session.grades)


def passed(check: str) -> Outcome:
    return Outcome(check, True)


def failed(check: str, reason: str) -> Outcome:
    return Outcome(check, False, reason, f"{reason}\n  example: x (2, 3)")


# -- plan -------------------------------------------------------------------------------------------


def test_plan_reads_the_api_and_the_units_from_the_source_without_starting_a_worker():
    grade = plan(CS231N_BUGS, Options())
    assert grade.worker._process is None
    assert grade.worker.isolation == ""  # set only by a started worker
    assert not grade.worker.packages  # a course API's worker imports NumPy alone
    assert grade.api.name == "cs231n"
    assert grade.api_reason == "detected from its function names; --candidate-api overrides"
    assert [op.unit for op in grade.ops] == ["affine", "batchnorm", "conv2d", "dropout", "softmax_loss"]
    assert [o.unit for o in grade.optimizers] == ["sgd_momentum", "adam"]
    assert "relu" in grade.not_implemented
    assert "batchnorm_alt" in grade.not_implemented  # batchnorm_forward alone does not make it
    # The year matters to dropout and Adam only, and is said for a candidate that has one of them.
    assert grade.convention.name == "cs231n-2019"
    assert grade.convention.assumed
    conventions = {unit.unit: unit.convention for unit in grade.ops + grade.optimizers}
    assert conventions["dropout"] is conventions["adam"] is grade.convention
    assert conventions["affine"] is None
    assert all(op.executor is grade.ops[0].executor for op in grade.ops)  # one worker, one executor
    assert grade.outcomes == {}


def test_plan_follows_the_options():
    grade = plan(RELU_ONLY, Options(api="cs231n", conventions=("cs231n-2017",), strict_shapes=True))
    assert (grade.api.name, grade.api_reason) == ("cs231n", "chosen with --candidate-api")
    assert [op.unit for op in grade.ops] == ["relu"]
    assert grade.ops[0].shapes.strict
    assert grade.convention is None  # relu is the same every year
    grade = plan(CS231N_BUGS, Options(conventions=("cs231n-2017",), timeout=0.5))
    assert (grade.convention.name, grade.convention.assumed) == ("cs231n-2017", False)
    assert grade.worker.timeout == 0.5
    native = plan(RELU_ONLY, Options())
    assert native.api.name == "native"
    assert [op.unit for op in native.ops] == ["relu"]
    assert native.convention is None
    assert "affine" in native.not_implemented


def test_the_denominator_is_the_assignment_not_what_the_student_wrote():
    """Every unit of a template file the candidate has a function of counts, a missing one at 0, so
    that deleting a hard function never raises a percentage."""
    grade = plan(CS231N_BUGS, Options())
    layers = ["affine", "relu", "batchnorm", "batchnorm_alt", "spatial_batchnorm", "layernorm"]
    assert list(grade.missing) == [
        *["relu", "batchnorm_alt", "spatial_batchnorm", "layernorm", "spatial_groupnorm", "max_pool2d"],
        *["svm_loss", "sgd", "rmsprop"],
    ]
    assert grade.missing["relu"] == "not implemented"
    assert "--convention cs231n-2017" in grade.missing["layernorm"]  # the year is only assumed
    rows = {row[0]: row for row in Scoreboard([grade], {}).rows(grade)}
    assert set(layers) <= set(rows)
    assert sum(row[4] for row in rows.values()) == 16.0  # layers.py's 12 units and optim.py's 4
    # The 2016-17 templates have no layer or group norm; a relu alone asks for layers.py only.
    assert "layernorm" not in plan(CS231N_BUGS, Options(conventions=("cs231n-2017",))).missing
    only_relu = plan(RELU_ONLY, Options(api="cs231n"))
    assert "affine" in only_relu.missing
    assert "sgd" not in only_relu.missing
    # The native API is a library, not an assignment: only what a candidate implements is graded.
    assert plan(RELU_ONLY, Options()).missing == {}


# -- points -----------------------------------------------------------------------------------------


def test_load_points_reads_the_points_table(tmp_path):
    assert load_points(None) == {}
    path = tmp_path / "points.toml"
    path.write_text('[points]\naffine = 2\nconv2d = 1.5\ndefault = 0\n[other]\nignored = "yes"\n')
    assert load_points(str(path)) == {"affine": 2, "conv2d": 1.5, "default": 0}
    path.write_text("[tool]\nname = 'no points table'\n")
    assert load_points(str(path)) == {}


@pytest.mark.parametrize("value", ["-1", '"two"', "[1, 2]", "{ a = 1 }"])
def test_load_points_refuses_what_is_no_non_negative_number(tmp_path, value):
    path = tmp_path / "points.toml"
    path.write_text(f"[points]\naffine = 1\nconv2d = {value}\n")
    with pytest.raises(ValueError, match=r"points for 'conv2d' must be a non-negative number, got "):
        load_points(str(path))


@pytest.mark.parametrize("value", ["true", "nan", "inf"])
def test_load_points_refuses_booleans_and_non_finite_numbers(tmp_path, value):
    path = tmp_path / "points.toml"
    path.write_text(f"[points]\nconv2d = {value}\n")
    with pytest.raises(ValueError, match=r"points for 'conv2d' must be a non-negative number"):
        load_points(str(path))


def test_weights_one_each_without_points_and_default_or_zero_with_them():
    assert Scoreboard([], {}).weight("affine") == 1.0
    with_default = Scoreboard([], {"affine": 3, "default": 0.5})
    assert (with_default.weight("affine"), with_default.weight("relu")) == (3.0, 0.5)
    without_default = Scoreboard([], {"affine": 3})
    assert (without_default.weight("affine"), without_default.weight("relu")) == (3.0, 0.0)


# -- the scoreboard ---------------------------------------------------------------------------------


def test_outcomes_are_recorded_for_their_candidate_and_unit(session_of):
    session = session_of(RELU_ONLY, CS231N_BUGS)
    board = session.scoreboard
    for check in ("forward", "backward", "backward vs own forward", "contracts"):
        board.record("relu_only", "relu", passed(check))
    board.record("cs231n_bugs", "affine", failed("backward", "affine dx: yours differs"))
    board.record("nobody", "relu", passed("forward"))  # an unknown candidate: nothing recorded
    relu_only, bugs = session.grades
    assert list(relu_only.outcomes) == ["relu"]
    assert [o.check for o in relu_only.outcomes["relu"]] == [
        "forward",
        "backward",
        "backward vs own forward",
        "contracts",
    ]
    assert list(bugs.outcomes) == ["affine"]


def test_rows_score_each_unit_by_the_fraction_of_its_checks_passed(session_of):
    session = session_of(CS231N_BUGS, points={"affine": 4, "conv2d": 2, "relu": 1, "default": 1})
    board, grade = session.scoreboard, session.grades[0]
    board.record("cs231n_bugs", "import", passed("import"))
    for check in ("forward", "contracts", "gradients"):
        board.record("cs231n_bugs", "affine", passed(check))
    board.record("cs231n_bugs", "affine", failed("backward", "affine dx: yours differs"))
    board.record("cs231n_bugs", "conv2d", failed("backward", "conv2d dx: yours differs"))
    board.record("cs231n_bugs", "conv2d", failed("gradients", "conv2d dw: disagrees"))
    rows = {row[0]: row for row in board.rows(grade)}
    # A passed import says nothing in the table; relu is asked for by the points file and missing.
    assert "import" not in rows
    assert rows["affine"] == ("affine", 3, 4, 3.0, 4.0, "affine dx: yours differs")
    # Every planned check counts: two of conv2d's four ran, and a unit none of whose checks ran (an
    # interrupted grade) scores nothing, with the reason.
    assert rows["conv2d"] == ("conv2d", 0, 4, 0.0, 2.0, "conv2d dx: yours differs")
    assert rows["batchnorm"] == ("batchnorm", 0, 4, 0.0, 1.0, "4 of 4 checks not run")
    assert rows["adam"] == ("adam", 0, 1, 0.0, 1.0, "1 of 1 checks not run")
    assert rows["relu"] == ("relu", 0, 0, 0.0, 1.0, "not implemented")
    assert board.not_run(grade) == 2 + 3 * 4 + 2  # conv2d; batchnorm, dropout, softmax_loss; two optimizers


def test_a_failed_import_is_a_row_worth_nothing_and_missing_units_need_a_points_file(session_of):
    session = session_of(RELU_ONLY)
    board, grade = session.scoreboard, session.grades[0]
    board.record("relu_only", "import", failed("import", "cannot load relu_only.py: SyntaxError"))
    assert board.rows(grade) == [
        ("import", 0, 1, 0.0, 0.0, "cannot load relu_only.py: SyntaxError"),
        ("relu", 0, 4, 0.0, 1.0, "4 of 4 checks not run"),
    ]


def test_warnings_are_the_shape_variants_a_units_checks_accepted(session_of):
    grade = session_of(CS231N_BUGS).grades[0]
    batchnorm = next(op for op in grade.ops if op.unit == "batchnorm")
    batchnorm.shapes.accept("batchnorm dgamma", np.zeros((1, 3)), (3,))
    assert Scoreboard.warnings(grade, "batchnorm") == [
        "batchnorm dgamma: returns (1, D); the template asks for (D,) (here (1, 3) for (3,))"
    ]
    assert Scoreboard.warnings(grade, "affine") == []


# -- the table and the Gradescope JSON --------------------------------------------------------------


@pytest.fixture
def graded(session_of) -> Session:
    """Two candidates, some units passed, some failed, one accepted with a warning."""

    session = session_of(RELU_ONLY, CS231N_BUGS, points={"relu": 2, "affine": 1, "dropout": 1, "adam": 1})
    board = session.scoreboard
    for check in ("forward", "backward", "backward vs own forward", "contracts"):
        board.record("relu_only", "relu", passed(check))
    board.record("cs231n_bugs", "affine", passed("forward"))
    board.record("cs231n_bugs", "affine", failed("backward", "affine dx: yours differs"))
    board.record("cs231n_bugs", "dropout", failed("forward", "dropout forward: yours differs"))
    board.record("cs231n_bugs", "adam", failed("steps", "adam next_w: yours differs"))
    affine = next(op for op in session.grades[1].ops if op.unit == "affine")
    affine.shapes.accept("affine db", np.zeros((1, 4)), (4,))
    return session


def test_the_table_says_each_units_score_and_why_it_failed(graded):
    lines = [text for text, _ in render.table(graded, markup=False)]
    assert lines[0] == f"relu_only: {RELU_ONLY.target}"
    assert lines[1] == "  native API (detected from its function names; --candidate-api overrides)"
    assert lines[2] == "  relu         4/4    2.00/2.00  "
    # The points file asks for affine and dropout, which relu_only's native API has too.
    assert lines[3] == "  affine       0/0    0.00/1.00    not implemented"
    assert lines[4] == "  dropout      0/0    0.00/1.00    not implemented"
    # The native API is a library, not an assignment: what relu_only leaves out is not graded.
    assert lines[5].startswith("  not implemented (not graded): add, ")
    assert lines[6] == "  score: 2.00 / 4.00"
    bugs = lines[7:]
    assert bugs[0] == f"cs231n_bugs: {CS231N_BUGS.target}"
    assert bugs[1] == "  cs231n API (detected from its function names; --candidate-api overrides)"
    assert bugs[2] == (
        "  convention cs231n-2019 (assumed): dropout p is the probability of keeping a unit, Adam's t starts "
        "at 0, group norm's gamma and beta are (C,); for other years' assignments use --convention "
        "cs231n-YEAR (2016, 2017, 2021, ...)"
    )
    assert "  affine              1/4    0.25/1.00    affine dx: yours differs" in bugs
    warning = bugs.index(
        "    warning: affine db: returns (1, D); the template asks for (D,) (here (1, 4) for (4,))"
    )
    assert bugs[warning - 1].startswith("  affine ")
    assert "  dropout             0/4    0.00/1.00    dropout forward: yours differs" in bugs
    assert "  relu                0/0    0.00/2.00    not implemented" in bugs
    # cs231n_bugs has functions of layers.py and optim.py: every unit of both is shown, the missing at
    # 0 (here worth 0: the points file gives them none), and one that came in a later year than some
    # assignments says how to grade those.
    assert "  sgd                 0/0    0.00/0.00    not implemented" in bugs
    assert (
        "  layernorm           0/0    0.00/0.00    not implemented (in the template since 2018; for an "
        "earlier year's: --convention cs231n-2017)"
    ) in bugs
    assert not any(line.startswith("  not implemented (not graded)") for line in bugs)
    assert bugs[-1].startswith("  score: 0.25 / ")
    assert bugs[-1].endswith(" (incomplete: 18 checks did not run)")


def test_the_table_is_coloured_only_with_markup(graded):
    plain = render.table(graded, markup=False)
    coloured = render.table(graded, markup=True)
    assert [text for text, _ in plain] == [text for text, _ in coloured]
    styles = dict(coloured)
    assert styles["  relu         4/4    2.00/2.00  "] == {"green": True}
    assert styles["  affine              1/4    0.25/1.00    affine dx: yours differs"] == {"red": True}
    assert styles[f"relu_only: {RELU_ONLY.target}"] == {"bold": True}
    assert not any(style.get("green") or style.get("red") for _, style in plain)


def test_gradescope_json_has_a_test_per_unit_and_the_total(graded):
    results = render.gradescope(graded, 12.34567)
    assert (results["score"], results["execution_time"]) == (2.25, 12.346)
    assert results["output"].startswith("incomplete: 18 planned checks did not run")
    tests = {test["name"]: test for test in results["tests"]}
    assert all(
        set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        for test in tests.values()
    )
    relu = tests["relu_only: relu"]
    assert (relu["score"], relu["max_score"], relu["status"]) == (2.0, 2.0, "passed")
    assert relu["output"] == (
        "forward: passed\n\nbackward: passed\n\nbackward vs own forward: passed\n\ncontracts: passed"
    )
    affine = tests["cs231n_bugs: affine"]
    assert (affine["score"], affine["max_score"], affine["status"]) == (0.25, 1.0, "failed")
    assert affine["output"].startswith("warning: affine db: returns (1, D)")
    assert (
        "forward: passed\n\nbackward: FAILED\naffine dx: yours differs\n  example: x (2, 3)"
        in affine["output"]
    )
    assert (
        tests["cs231n_bugs: adam"]["output"]
        == "steps: FAILED\nadam next_w: yours differs\n  example: x (2, 3)"
    )
    missing = tests["cs231n_bugs: relu"]
    assert (missing["score"], missing["max_score"], missing["status"], missing["output"]) == (
        0,
        2.0,
        "failed",
        "not implemented",
    )
    assert "cs231n_bugs: not implemented" not in tests  # all its API's units are its assignment's
    not_implemented = tests["relu_only: not implemented"]
    assert (not_implemented["max_score"], not_implemented["status"]) == (0, "failed")
    assert not_implemented["output"].startswith("not implemented (not graded): add, ")
    assert tests["cs231n_bugs: layernorm"]["output"].startswith("not implemented (in the template since 2018")
    convention = tests["cs231n_bugs: convention"]
    assert (convention["max_score"], convention["status"]) == (0, "passed")
    assert convention["output"] == graded.grades[1].convention.describe()
    assert "relu_only: convention" not in tests  # native has no course years
    assert not any(name.endswith("how it was loaded") for name in tests)


def test_gradescope_json_says_how_a_candidate_was_loaded(graded):
    graded.grades[0].worker.load_notes = ("relu_only.py: loaded its definitions only; 1 top-level statement",)
    tests = {test["name"]: test for test in render.gradescope(graded, 0.0)["tests"]}
    note = tests["relu_only: how it was loaded"]
    assert (note["score"], note["max_score"], note["status"]) == (0, 0, "passed")
    assert note["output"] == graded.grades[0].worker.load_notes[0]
    lines = [text for text, _ in render.table(graded, markup=False)]
    assert f"  note: {note['output']}" in lines


def test_write_gradescope_replaces_the_file_in_one_step(graded, tmp_path):
    path = tmp_path / "results.json"
    path.write_text("the previous run's results")
    render.write_gradescope(graded, str(path), 1.5)
    assert json.loads(path.read_text()) == render.gradescope(graded, 1.5)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no .tmp left behind


def test_the_grader_is_whole_before_the_first_grading_test():
    """After preload, nothing of the grader is left to import on a failure (the diagnoses): every
    candidate of a run meets the same derandomised examples, whatever failed before it."""
    import importlib
    import pkgutil
    import sys

    import gradproof.grading
    from gradproof.grading.session import preload

    preload()
    names = [m.name for m in pkgutil.walk_packages(gradproof.grading.__path__, "gradproof.grading.")]
    assert "gradproof.grading.diagnose" in names
    assert [name for name in names if name not in sys.modules] == []
    before = set(sys.modules)
    importlib.import_module("gradproof.grading.diagnose")
    assert set(sys.modules) == before
