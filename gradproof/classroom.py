"""Grade a whole class: ``gradproof grade-class SUBMISSIONS --out RESULTS``.

Every entry of ``SUBMISSIONS`` is one student: a folder, a ``.py``, a ``.ipynb``, or a ``.zip``
(unpacked into a temporary folder). The student id is the entry's name; a Gradescope export's
``submission_metadata.yml`` or a roster CSV maps it to names and emails.

Each submission is graded by ``gradproof grade`` in a process of its own, so that one student's
crash, hang or attack cannot touch another's grade; ``--jobs`` of them at a time, or one task per
submission on a Dask cluster (``--dask``). What comes out, in ``RESULTS``:

* ``grades.csv``: one row per student, one column per graded op and the total, in the points of
  ``--points``; a submission that could not be graded is a row that says why;
* ``<student>/results.json`` (Gradescope's JSON, as ``gradproof grade --json`` writes it),
  ``<student>/feedback.md`` (the grade table and the failure messages) and ``<student>/grade.json``
  (this module's record: the content hash, the time, the status), each written atomically, the
  record last: an interrupted run keeps every finished student, and a rerun grades only the
  submissions whose content (or grading options) changed, unless ``--force``;
* ``report.html``: the class at a glance (:mod:`gradproof.class_report`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gradproof.class_report import html_report, note, summary_reason, units

SUFFIXES = (".py", ".ipynb", ".zip")
RESERVED = {"grades.csv", "report.html"}
"""Names in ``RESULTS`` that are not a student's folder."""
METADATA = "submission_metadata.yml"
"""The file of a Gradescope export that names each submission's students."""
SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".hypothesis", "__MACOSX", ".DS_Store", ".git"}
ZIP_LIMITS = {"files": 1000, "bytes": 200 << 20}
"""What a submission's zip may unpack to: a zip bomb is a row that says so, not a full disk."""
DEFAULT_TOTAL_TIMEOUT = 3600.0
THREAD_LIMITS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""One BLAS thread per grade: ``--jobs`` grades share the cores, and a call's timeout counts CPU."""


class SubmissionError(ValueError):
    """A submission that cannot be graded as it is (a corrupt zip, a file of another kind)."""


@dataclass(frozen=True)
class Submission:
    student: str
    """The entry's name without its suffix, made safe for a folder name."""
    path: Path
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class ClassOptions:
    """The options of ``gradproof grade`` that apply to the whole class."""

    api: str | None = None
    points: str | None = None
    """The text of the ``--points`` TOML file (sent along to a Dask worker, which may not see it)."""
    conventions: tuple[str, ...] = ()
    timeout: float | None = None
    total_timeout: float | None = None
    require_sandbox: bool = False
    profile: str = "ci"
    numpy: str | None = None
    """A NumPy version installed with ``gradproof numpy-env`` (on every Dask worker too)."""

    def grade_args(self, points_path: Path | None) -> list[str]:
        """The options of ``gradproof grade`` for one submission."""
        args = ["--profile", self.profile]
        if self.api:
            args += ["--api", self.api]
        if points_path is not None:
            args += ["--points", str(points_path)]
        if self.timeout is not None:
            args += ["--timeout", f"{self.timeout:g}"]
        if self.total_timeout is not None:
            args += ["--total-timeout", f"{self.total_timeout:g}"]
        if self.require_sandbox:
            args.append("--require-sandbox")
        if self.numpy:
            args += ["--numpy", self.numpy]
        return args + [f"--convention={name}" for name in self.conventions]

    @property
    def wall_limit(self) -> float:
        """Seconds one submission's grade may take before it is killed: its ``--total-timeout``
        only stops new checks from starting, so the one running gets as long again, and a minute."""
        return 2 * (self.total_timeout or DEFAULT_TOTAL_TIMEOUT) + 60


# -- the class ------------------------------------------------------------------------------------


def student_id(entry: Path) -> str:
    stem = entry.name[: -len(entry.suffix)] if entry.suffix in SUFFIXES else entry.name
    return re.sub(r"[^\w.@+-]", "_", stem).strip("._") or "submission"


def find_submissions(folder: Path, roster: Path | None = None) -> tuple[list[Submission], list[str]]:
    """The submissions of ``folder``, one per entry, with names and emails where a roster or a
    Gradescope ``submission_metadata.yml`` gives them; and a line for each entry left out."""
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: no such folder")
    people = read_metadata(folder / METADATA) if (folder / METADATA).is_file() else {}
    if roster is not None:
        people.update(read_roster(roster))
    found, skipped, seen = [], [], set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or entry.name == METADATA or entry.name in SKIPPED_PARTS:
            continue
        if roster is not None and entry.resolve() == roster.resolve():
            continue
        if not (entry.is_dir() or entry.suffix in SUFFIXES):
            skipped.append(f"skipped {entry.name}: not a folder, .py, .ipynb or .zip")
            continue
        student = base = student_id(entry)
        if student in RESERVED:
            student = base = f"{student}_"
        count = 1
        while student in seen:  # alice.py and alice.zip: two entries, two rows
            count += 1
            student = f"{base}_{count}"
        seen.add(student)
        name, email = people.get(entry.name, people.get(base, ("", "")))
        found.append(Submission(student, entry, name, email))
    return found, skipped


def read_metadata(path: Path) -> dict[str, tuple[str, str]]:
    """Submission folder -> (names, emails) from a Gradescope export's ``submission_metadata.yml``
    (``submission_123: {":submitters": [{":name": ..., ":email": ..., ":sid": ...}]}``)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SubmissionError(f"{path}: cannot read it ({exc})") from None
    people = {}
    for key, record in data.items() if isinstance(data, dict) else ():
        submitters = record.get(":submitters", []) if isinstance(record, dict) else []
        submitters = [s for s in submitters if isinstance(s, dict)]
        names = ", ".join(str(s.get(":name", "")) for s in submitters if s.get(":name"))
        emails = ", ".join(str(s.get(":email", "")) for s in submitters if s.get(":email"))
        people[str(key)] = (names, emails)
    return people


ROSTER_ID_COLUMNS = ("id", "student", "submission", "sid", "login", "username", "github")


def read_roster(path: Path) -> dict[str, tuple[str, str]]:
    """Entry name -> (name, email) from a CSV with a header row: the id in a column named ``id``,
    ``student``, ``submission``, ``sid``, ``login``, ``username`` or ``github`` (else the first),
    and ``name`` and ``email`` columns where it has them."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SubmissionError(f"{path}: cannot read the roster ({exc})") from None
    if not rows:
        return {}
    columns = {key.strip().lower(): key for key in rows[0] if key}
    key = next((columns[c] for c in ROSTER_ID_COLUMNS if c in columns), next(iter(rows[0])))
    name, email = columns.get("name"), columns.get("email")
    return {
        str(row[key]).strip(): (str(row.get(name) or "").strip(), str(row.get(email) or "").strip())
        for row in rows
        if row.get(key)
    }


def _files(entry: Path) -> Iterable[tuple[str, Path]]:
    if entry.is_dir():
        for path in sorted(entry.rglob("*")):
            parts = path.relative_to(entry).parts
            if path.is_file() and not path.is_symlink() and not SKIPPED_PARTS & set(parts):
                yield "/".join(parts), path
    else:
        yield entry.name, entry


def content_hash(entry: Path, options: ClassOptions) -> str:
    """SHA-256 of a submission's files (their paths and bytes) and of the options it is graded with."""
    digest = hashlib.sha256(json.dumps(asdict(options), sort_keys=True).encode())
    for name, path in _files(entry):
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


# -- one submission (anywhere: a thread here, or a Dask worker) -----------------------------------


def unpack(archive: Path, into: Path) -> Path:
    """Unpack a submission's zip into ``into``, refusing paths that leave it, links, and more than
    :data:`ZIP_LIMITS`; the folder (or the one file) to grade."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not SKIPPED_PARTS & set(Path(m.filename).parts)]
            if len(members) > ZIP_LIMITS["files"]:
                raise SubmissionError(f"the zip holds {len(members)} files, more than {ZIP_LIMITS['files']}")
            size = sum(m.file_size for m in members)
            if size > ZIP_LIMITS["bytes"]:
                raise SubmissionError(f"the zip unpacks to {size} bytes, more than {ZIP_LIMITS['bytes']}")
            for member in members:
                path = Path(member.filename)
                if path.is_absolute() or ".." in path.parts:
                    raise SubmissionError(f"the zip holds a path outside its folder: {member.filename}")
                if (member.external_attr >> 16) & 0o170000 == 0o120000:
                    continue  # a symbolic link: it could point anywhere
                zf.extract(member, into)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise SubmissionError(f"cannot unzip {archive.name}: {exc}") from None
    entries = [p for p in into.iterdir() if p.name not in SKIPPED_PARTS]
    if len(entries) == 1 and (entries[0].is_dir() or entries[0].suffix in (".py", ".ipynb")):
        return entries[0]  # a zip of one folder, or of one file
    return into


def target_of(entry: Path, workdir: Path) -> Path:
    """What ``gradproof grade`` is given for a submission entry."""
    if entry.is_dir() or entry.suffix in (".py", ".ipynb"):
        return entry
    if entry.suffix == ".zip":
        folder = workdir / entry.stem
        folder.mkdir()
        return unpack(entry, folder)
    raise SubmissionError(f"{entry.name} is not a folder, .py, .ipynb or .zip")


_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_running() -> None:
    """Kill every grade this process started and that still runs (on an interrupt)."""
    with _RUNNING_LOCK:
        for process in list(_RUNNING):
            _kill(process)


def _child_environment() -> dict[str, str]:
    env = {**os.environ, **THREAD_LIMITS}
    # The grade runs the gradproof this process runs, installed or from a checkout.
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return env


def grade_submission(student: str, entry: str, options: ClassOptions) -> dict:
    """Grade one submission by running ``gradproof grade`` on it in a process of its own; a record
    (a plain dict, so that a Dask worker can send it back): ``status`` ``"graded"`` with the
    Gradescope ``results`` and the printed ``table``, or ``"not graded"`` with the ``reason``."""
    started = time.monotonic()
    record: dict = {"student": student, "status": "not graded", "reason": "", "results": None, "table": ""}
    with tempfile.TemporaryDirectory(prefix="gradproof-class-") as tmp:
        workdir = Path(tmp)
        try:
            target = target_of(Path(entry), workdir)
        except SubmissionError as exc:
            record.update(reason=str(exc), seconds=time.monotonic() - started)
            return record
        points = None
        if options.points is not None:
            points = workdir / "points.toml"
            points.write_text(options.points)
        out = workdir / "results.json"
        command = [sys.executable, "-m", "gradproof.cli", "grade", str(target), "--json", str(out)]
        command += options.grade_args(points)
        process = subprocess.Popen(
            command,
            cwd=workdir,  # whatever the grade writes (.hypothesis) lands here, not by the submission
            env=_child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with _RUNNING_LOCK:
            _RUNNING.add(process)
        try:
            output, _ = process.communicate(timeout=options.wall_limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill(process)
            output, _ = process.communicate()
            timed_out = True
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(process)
        text = output.decode(errors="replace")
        record["seconds"] = time.monotonic() - started
        record["table"] = grade_table(text)
        record["log"] = text[-4000:]
        if timed_out:
            record["reason"] = (
                f"the grade did not finish within {options.wall_limit:g} s of wall-clock time and was killed"
            )
        elif out.is_file():
            try:
                record["results"] = json.loads(out.read_text())
                record["status"] = "graded"
            except (OSError, ValueError) as exc:
                record["reason"] = f"the grade wrote a results.json that does not parse ({exc})"
        else:
            record["reason"] = f"the grade exited with code {process.returncode} and wrote no results: " + (
                last_line(text) or "no output"
            )
    return record


def grade_payload(student: str, filename: str, data: bytes, options: ClassOptions) -> dict:
    """:func:`grade_submission` of a submission sent as bytes (a Dask worker may not see the
    teacher's files): a file as it is, a folder zipped (:func:`pack`)."""
    with tempfile.TemporaryDirectory(prefix="gradproof-payload-") as tmp:
        path = Path(tmp) / Path(filename).name
        path.write_bytes(data)
        return grade_submission(student, str(path), options)


def pack(entry: Path) -> tuple[str, bytes]:
    """A submission as (file name, bytes): a folder as a zip of it."""
    if not entry.is_dir():
        return entry.name, entry.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in _files(entry):
            zf.write(path, f"{entry.name}/{name}")
    return f"{entry.name}.zip", buffer.getvalue()


def grade_table(output: str) -> str:
    """The grade table ``gradproof grade`` printed, without pytest's lines around it."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"=+ gradproof grade =+$", line)), None)
    if start is None:
        return ""
    table = []
    for line in lines[start + 1 :]:
        if line.startswith(("Gradescope results written", "=")):
            break
        table.append(line)
    return "\n".join(table).rstrip()


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("=")]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [""])[-1][:300]


def feedback(record: dict, submission: Submission) -> str:
    """The student's ``feedback.md``: the grade table and every failure message."""
    lines = [f"# Feedback: {submission.student}", ""]
    if record["status"] != "graded":
        lines += [f"**Not graded**: {record['reason']}", ""]
        if record.get("log"):
            lines += ["What the grader printed last:", "", "```text", record["log"][-2000:], "```", ""]
        return "\n".join(lines)
    results = record["results"]
    lines += [f"**Score: {results.get('score', 0):g} / {results.get('max_score', 0):g}**", ""]
    reason = summary_reason(record)
    if reason:
        lines += [reason, ""]
    if record.get("table"):
        lines += ["```text", record["table"], "```", ""]
    failed = [("import", note(results, "import")), *units(results).items()]
    for unit, test in failed:
        if test is None or test.get("status") == "passed":
            continue
        lines += [f"## {unit}: {test.get('score', 0):g} / {test.get('max_score', 0):g}", "", "```text"]
        lines += [str(test.get("output", "")).rstrip(), "```", ""]
    return "\n".join(lines)


# -- writing --------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader (or an interrupted run) sees the old file or the
    new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(out: Path, submission: Submission, record: dict, digest: str) -> None:
    """A student's files; ``grade.json`` last, as it marks the student done."""
    folder = out / submission.student
    # The old record goes first: a run interrupted half-way through leaves no record that vouches
    # for files it did not write.
    (folder / "grade.json").unlink(missing_ok=True)
    if record["results"] is not None:
        write_atomic(folder / "results.json", json.dumps(record["results"], indent=2) + "\n")
    else:
        (folder / "results.json").unlink(missing_ok=True)
    write_atomic(folder / "feedback.md", feedback(record, submission))
    kept = {key: value for key, value in record.items() if key != "results"}
    kept.update(hash=digest, name=submission.name, email=submission.email, entry=submission.path.name)
    write_atomic(folder / "grade.json", json.dumps(kept, indent=2) + "\n")


def load_saved(out: Path, submission: Submission) -> dict | None:
    """A student's record from an earlier run, or None where there is none whole."""
    folder = out / submission.student
    try:
        record = json.loads((folder / "grade.json").read_text())
        if record.get("status") == "graded":
            record["results"] = json.loads((folder / "results.json").read_text())
        else:
            record["results"] = None
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def csv_text(rows: list[tuple[Submission, dict]], order: list[str] | None = None) -> str:
    """``grades.csv``: a row per student, a column per graded op (in the order of the points file,
    then as met), and the total."""
    columns: list[str] = list(order or [])
    for _, record in rows:
        columns += [unit for unit in units(record["results"]) if unit not in columns]
    columns = [c for c in columns if any(c in units(r["results"]) for _, r in rows)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["student", "name", "email", "score", "max_score", *columns, "status", "reason", "seconds"]
    )
    for submission, record in rows:
        results, graded = record["results"] or {}, units(record["results"])
        score = f"{results.get('score', 0):g}" if record["status"] == "graded" else ""
        maximum = f"{results.get('max_score', 0):g}" if record["status"] == "graded" else ""
        cells = [f"{graded[c].get('score', 0):g}" if c in graded else "" for c in columns]
        seconds = f"{record.get('seconds', 0):.1f}"
        who = [submission.student, submission.name, submission.email]
        writer.writerow([*who, score, maximum, *cells, record["status"], summary_reason(record), seconds])
    return buffer.getvalue()


# -- the run --------------------------------------------------------------------------------------


@dataclass
class ClassRun:
    """One ``grade-class`` run: what to grade, where, and how."""

    submissions: list[Submission]
    out: Path
    options: ClassOptions
    jobs: int = field(default_factory=lambda: cores())
    force: bool = False
    dask: str | None = None
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    progress: bool = True
    points_order: list[str] = field(default_factory=list)

    def run(self) -> list[tuple[Submission, dict]]:
        """Grade what is new or changed, keep the rest; write the CSV and the report, also when
        interrupted (with what finished)."""
        self.out.mkdir(parents=True, exist_ok=True)
        done: dict[str, dict] = {}
        todo: list[tuple[Submission, str]] = []
        for submission in self.submissions:
            try:
                digest = content_hash(submission.path, self.options)
            except OSError as exc:  # unreadable: graded anyway, where it fails with its reason
                digest = f"unreadable: {exc}"
            saved = None if self.force else load_saved(self.out, submission)
            if saved is not None and saved.get("hash") == digest:
                done[submission.student] = saved
                self.say(f"{submission.student}: unchanged, kept ({describe(saved)})")
            else:
                todo.append((submission, digest))
        started = time.monotonic()
        try:
            if todo:
                self._grade(todo, done)
        finally:
            rows = [(s, done[s.student]) for s in self.submissions if s.student in done]
            self.write_summary(rows, time.monotonic() - started)
        return rows

    def _grade(self, todo: list[tuple[Submission, str]], done: dict[str, dict]) -> None:
        bar = _progress_bar(len(todo), self.progress)
        say = bar.write if bar is not None else self.say

        def finished(submission: Submission, digest: str, record: dict) -> None:
            save(self.out, submission, record, digest)
            done[submission.student] = record
            say(f"{submission.student}: {describe(record)} in {record.get('seconds', 0):.0f} s")
            if bar is not None:
                bar.update(1)

        try:
            if self.dask:
                _run_on_dask(self.dask, todo, self.options, finished)
            else:
                self._run_here(todo, finished)
        finally:
            if bar is not None:
                bar.close()

    def _run_here(self, todo, finished) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, self.jobs), thread_name_prefix="grade")
        futures = {
            pool.submit(grade_submission, sub.student, str(sub.path), self.options): (sub, digest)
            for sub, digest in todo
        }
        try:
            for future in as_completed(futures):
                submission, digest = futures[future]
                error = future.exception()
                record = future.result() if error is None else failed_record(submission.student, error)
                finished(submission, digest, record)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            kill_running()  # the grades are in sessions of their own: Ctrl-C does not reach them
            raise
        pool.shutdown()

    def write_summary(self, rows: list[tuple[Submission, dict]], seconds: float) -> None:
        write_atomic(self.out / "grades.csv", csv_text(rows, self.points_order))
        write_atomic(self.out / "report.html", html_report(rows, seconds))


def failed_record(student: str, error: BaseException, what: str = "grade") -> dict:
    """The record of a submission whose grade itself failed (not the student's code: that is
    graded): a row that says so, never the end of the run."""
    reason = f"the {what} failed: {type(error).__name__}: {error}"
    return {"student": student, "status": "not graded", "reason": reason, "results": None, "seconds": 0.0}


def cores() -> int:
    """The cores this process may run on (``--jobs``' default)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def describe(record: dict) -> str:
    if record["status"] != "graded":
        return f"NOT GRADED: {record['reason']}"
    results = record["results"]
    text = f"{results.get('score', 0):g} / {results.get('max_score', 0):g}"
    reason = summary_reason(record)
    return f"{text} ({reason})" if reason else text


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="student", desc="grading", dynamic_ncols=True, smoothing=0.1)


def _run_on_dask(address: str, todo, options: ClassOptions, finished) -> None:
    """One task per submission on a Dask cluster: ``tcp://host:port``, or ``local:N`` for a
    ``LocalCluster`` of N single-threaded workers on this machine. The submissions travel as bytes
    (:func:`pack`); the records come back here and are written into ``RESULTS``."""
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise SystemExit(
            "gradproof grade-class --dask needs Dask distributed: pip install 'gradproof[cluster]'"
        ) from None
    cluster = None
    if address.startswith("local:"):
        cluster = LocalCluster(
            n_workers=int(address.partition(":")[2]),
            threads_per_worker=1,
            dashboard_address=None,
            env=THREAD_LIMITS,
        )
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = {}
        for submission, digest in todo:
            filename, data = pack(submission.path)
            future = client.submit(
                grade_payload,
                submission.student,
                filename,
                data,
                options,
                key=f"gradproof-{submission.student}-{digest[:16]}",
                pure=False,
            )
            futures[future] = (submission, digest)
        for future in dask_completed(futures):
            submission, digest = futures[future]
            error = future.exception()
            record = (
                future.result() if error is None else failed_record(submission.student, error, "Dask task")
            )
            finished(submission, digest, record)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def points_order(text: str | None) -> list[str]:
    """The op names of a ``[points]`` table, in the file's order."""
    import tomllib

    if text is None:
        return []
    return [name for name in tomllib.loads(text).get("points", {}) if name != "default"]
