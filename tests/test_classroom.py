"""``gradproof grade-class``: a class folder in, grades, feedback and a report out.

One real run grades a class of tiny submissions (``tests/candidates/class/``, the ``dev`` profile)
with 4 jobs on this machine's cores; the Dask run grades some of them again on a 2-worker
LocalCluster. Resuming, forcing and interrupting are tested with a stand-in for the grade of one
submission, in this process.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from gradproof import classroom
from gradproof.cli import main
from tests.test_grading import HERE

CLASS = HERE / "class"
POINTS = "[points]\nrelu = 1\nsigmoid = 1\n"
OPTIONS = ["--profile", "dev", "--timeout", "0.3", "--jobs", "4", "--no-progress"]


def make_class(folder: Path) -> Path:
    """The class: the planted entries, a zip of the folder of one-function files, a zip that is not
    one, and a stray file."""
    folder.mkdir()
    for name in ("ada.py", "bob.py", "cyd.ipynb", "eve.py", "fay.py"):
        shutil.copy(CLASS / name, folder / name)
    with zipfile.ZipFile(folder / "gil.zip", "w") as zf:
        for path in sorted((CLASS / "dee").iterdir()):
            zf.write(path, f"homework/{path.name}")
    (folder / "hal.zip").write_text("not a zip")
    (folder / "notes.txt").write_text("not a submission")
    (folder / "roster.csv").write_text(
        "Student,Name,Email\nada,Ada L.,ada@example.edu\nbob,Bob K.,bob@example.edu\n"
    )
    return folder


def read_csv(path: Path) -> dict[str, dict]:
    return {row["student"]: row for row in csv.DictReader(io.StringIO(path.read_text()))}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class, graded once: (class folder, results folder, what was printed)."""
    root = tmp_path_factory.mktemp("class")
    folder = make_class(root / "submissions")
    points = root / "points.toml"
    points.write_text(POINTS)
    out = root / "results"
    argv = ["grade-class", str(folder), "--out", str(out), "--points", str(points), *OPTIONS]
    argv += ["--roster", str(folder / "roster.csv")]
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert main(argv) == 0
    return folder, out, capture.getvalue()


def test_every_student_is_a_row_and_a_broken_submission_says_why(graded):
    _, out, printed = graded
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["ada", "bob", "cyd", "eve", "fay", "gil", "hal"]
    assert "skipped notes.txt: not a folder, .py, .ipynb or .zip" in printed
    scores = {s: (r["score"], r["max_score"], r["relu"], r["sigmoid"], r["status"]) for s, r in rows.items()}
    # With 4 jobs on 2 cores and a 0.3 s CPU limit per call, every correct op keeps its points.
    assert scores["ada"] == ("2", "2", "1", "1", "graded")
    assert scores["cyd"] == ("1", "2", "1", "0", "graded")  # a notebook; sigmoid not implemented
    assert scores["gil"] == ("1", "2", "1", "0", "graded")  # a zip of a folder of one-function files
    assert scores["bob"] == ("1.5", "2", "0.5", "1", "graded")  # relu backward wrong
    assert float(scores["eve"][2]) < 1  # relu backward hangs
    assert scores["eve"][3] == "0"
    assert rows["fay"]["reason"].startswith("could not load:")
    assert "SyntaxError" in rows["fay"]["reason"]
    assert rows["hal"]["status"] == "not graded"
    assert rows["hal"]["reason"] == "cannot unzip hal.zip: File is not a zip file"
    assert (rows["ada"]["name"], rows["ada"]["email"]) == ("Ada L.", "ada@example.edu")
    assert "hal: NOT GRADED: cannot unzip hal.zip" in printed


def test_each_student_gets_the_grade_json_and_feedback(graded):
    _, out, _ = graded
    results = json.loads((out / "bob" / "results.json").read_text())
    assert (results["score"], results["max_score"]) == (1.5, 2.0)
    feedback = (out / "bob" / "feedback.md").read_text()
    assert "**Score: 1.5 / 2**" in feedback
    assert "## relu: 0.5 / 1" in feedback
    assert "relu dx: yours differs from reference" in feedback
    hang = (out / "eve" / "feedback.md").read_text()
    assert "timed out after 3 s of wall-clock time" in hang
    assert not (out / "hal" / "results.json").exists()
    assert "**Not graded**: cannot unzip hal.zip" in (out / "hal" / "feedback.md").read_text()


def test_the_report_is_one_file_with_plots_and_the_class_failures(graded):
    _, out, _ = graded
    report = (out / "report.html").read_text()
    assert report.count('src="data:image/png;base64,') == 2  # the histogram, the failure rates
    assert "<td>relu</td><td>backward</td>" in report
    assert "your relu dx equals dout passed through everywhere" in report  # the diagnosis leads
    assert '<tr><td>relu</td><td>dx</td><td class="num">1</td>' in report  # bob, per quantity
    assert "<td>hal</td><td>not graded</td>" in report
    assert "<td>eve</td><td>timed out</td>" in report
    assert "<td>fay</td><td>could not load</td>" in report
    assert "http" not in report.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_a_grade_equals_gradproof_grade_of_that_submission_alone(graded, tmp_path):
    folder, out, _ = graded
    points = tmp_path / "points.toml"
    points.write_text(POINTS)
    alone = tmp_path / "bob.json"
    argv = [sys.executable, "-m", "gradproof.cli", "grade", str(folder / "bob.py"), "--json", str(alone)]
    argv += ["--points", str(points), "--profile", "dev", "--timeout", "0.3"]
    subprocess.run(argv, cwd=tmp_path, capture_output=True, check=False)
    expected = json.loads(alone.read_text())
    got = json.loads((out / "bob" / "results.json").read_text())
    for results in (expected, got):
        results.pop("execution_time")
    assert got == expected


@pytest.fixture
def fake_grade(monkeypatch):
    """Grades without running anything: a record whose score is the file's length, and a log of
    what was graded."""
    graded = []

    def grade(student, entry, options):
        graded.append(student)
        size = sum(len(p.read_bytes()) for _, p in classroom._files(Path(entry)))
        test = {
            "name": f"{student}: relu",
            "score": size,
            "max_score": 1000,
            "status": "passed",
            "output": "",
        }
        results = {"score": size, "max_score": 1000, "tests": [test]}
        return {"student": student, "status": "graded", "reason": "", "results": results, "seconds": 0.0}

    monkeypatch.setattr(classroom, "grade_submission", grade)
    return graded


def run_class(folder: Path, out: Path, **kwargs) -> list:
    submissions, _ = classroom.find_submissions(folder)
    run = classroom.ClassRun(submissions, out, classroom.ClassOptions(), jobs=1, progress=False, **kwargs)
    run.say = lambda line: None
    return run.run()


def test_a_rerun_grades_only_what_changed_unless_forced(tmp_path, fake_grade):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.py", "bob.py"):
        shutil.copy(CLASS / name, folder / name)
    run_class(folder, tmp_path / "out")
    assert sorted(fake_grade) == ["ada", "bob"]
    fake_grade.clear()
    run_class(folder, tmp_path / "out")
    assert fake_grade == []
    (folder / "bob.py").write_text((folder / "bob.py").read_text() + "\n# changed\n")
    rows = run_class(folder, tmp_path / "out")
    assert fake_grade == ["bob"]
    assert [s.student for s, _ in rows] == ["ada", "bob"]  # ada kept, from its files
    fake_grade.clear()
    run_class(folder, tmp_path / "out", force=True)
    assert sorted(fake_grade) == ["ada", "bob"]


def test_an_interrupted_run_keeps_the_finished_students(tmp_path, fake_grade, monkeypatch):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.py", "bob.py", "eve.py"):
        shutil.copy(CLASS / name, folder / name)
    grade = classroom.grade_submission

    def interrupted(student, entry, options):
        if student == "eve":  # Ctrl-C while eve is graded, once the others are written
            deadline = time.monotonic() + 10
            while not (tmp_path / "out" / "bob" / "grade.json").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)  # the signal goes to the main thread
            time.sleep(2)
            raise RuntimeError("eve's grade was interrupted")  # never saved: the run is over
        return grade(student, entry, options)

    monkeypatch.setattr(classroom, "grade_submission", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_class(folder, tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "grades.csv")
    assert sorted(rows) == ["ada", "bob"]  # written on the way out, with what finished
    assert json.loads((tmp_path / "out" / "bob" / "grade.json").read_text())["status"] == "graded"
    assert not (tmp_path / "out" / "eve").exists()
    monkeypatch.setattr(classroom, "grade_submission", grade)
    fake_grade.clear()
    run_class(folder, tmp_path / "out")
    assert fake_grade == ["eve"]


def test_a_grade_that_fails_in_the_runner_is_a_row_not_an_abort(tmp_path, fake_grade, monkeypatch):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.py", "bob.py"):
        shutil.copy(CLASS / name, folder / name)
    grade = classroom.grade_submission

    def broken(student, entry, options):
        if student == "ada":
            raise OSError("no space left on device")
        return grade(student, entry, options)

    monkeypatch.setattr(classroom, "grade_submission", broken)
    run_class(folder, tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "grades.csv")
    assert rows["ada"]["status"] == "not graded"
    assert rows["ada"]["reason"] == "the grade failed: OSError: no space left on device"
    assert rows["bob"]["status"] == "graded"


def test_names_come_from_a_gradescope_export(tmp_path):
    folder = tmp_path / "export"
    (folder / "submission_101").mkdir(parents=True)
    (folder / "submission_102").mkdir()
    (folder / "submission_metadata.yml").write_text(
        "submission_101:\n"
        "  :submitters:\n"
        "  - :name: Ada Lovelace\n    :sid: '7'\n    :email: ada@example.edu\n"
        "  :score: 10.0\n"
        "submission_102:\n"
        "  :submitters:\n"
        "  - :name: Bob\n    :email: bob@example.edu\n"
        "  - :name: Cy\n    :email: cy@example.edu\n"
    )
    submissions, skipped = classroom.find_submissions(folder)
    assert skipped == []
    people = {s.student: (s.name, s.email) for s in submissions}
    assert people == {
        "submission_101": ("Ada Lovelace", "ada@example.edu"),
        "submission_102": ("Bob, Cy", "bob@example.edu, cy@example.edu"),
    }


def test_a_zip_cannot_write_outside_its_folder(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escaped.py", "x = 1")
    (tmp_path / "into").mkdir()
    with pytest.raises(classroom.SubmissionError, match=r"a path outside its folder: \.\./escaped\.py"):
        classroom.unpack(archive, tmp_path / "into")
    assert not (tmp_path / "escaped.py").exists()


def test_the_grades_on_a_dask_cluster_equal_the_local_ones(graded, tmp_path):
    pytest.importorskip("dask.distributed")
    folder, out, _ = graded
    subset = tmp_path / "subset"
    subset.mkdir()
    for name in ("bob.py", "gil.zip"):
        shutil.copy(folder / name, subset / name)
    points = tmp_path / "points.toml"
    points.write_text(POINTS)
    argv = ["grade-class", str(subset), "--out", str(tmp_path / "out"), "--points", str(points)]
    assert main([*argv, *OPTIONS, "--dask", "local:2"]) == 0
    here, there = read_csv(out / "grades.csv"), read_csv(tmp_path / "out" / "grades.csv")
    columns = ("score", "max_score", "relu", "sigmoid", "status", "reason")
    assert sorted(there) == ["bob", "gil"]
    for student, row in there.items():
        assert [row[c] for c in columns] == [here[student][c] for c in columns], student


def test_without_matplotlib_the_report_says_its_plots_are_missing(monkeypatch):
    from gradproof.class_report import html_report

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    test = {"name": "ada: relu", "score": 1, "max_score": 1, "status": "passed", "output": "forward: passed"}
    record = {"status": "graded", "reason": "", "results": {"score": 1, "max_score": 1, "tests": [test]}}
    report = html_report([(classroom.Submission("ada", Path("ada.py")), record)], 1.0)
    assert "plot missing: matplotlib is not installed (pip install 'gradproof[bench]')" in report
    assert "base64" not in report
    assert "<td>relu</td><td>forward</td>" in report  # the tables stay
