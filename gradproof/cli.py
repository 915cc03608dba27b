"""The ``gradproof`` command.

``gradproof grade PATH [PATH ...] [--json results.json]`` runs pytest on gradproof's grading tests
(:mod:`gradproof.grading.grade_tests`) for the given candidates, with the derandomised ``ci`` profile unless
told otherwise, and prints the grade table. Options it does not know go to pytest as they are
(``-x``, ``-k conv2d``, ``-n 2``).

``gradproof grade-class SUBMISSIONS --out RESULTS [--jobs N | --dask ADDRESS]`` grades a class, one
submission per entry of ``SUBMISSIONS``, each in a ``gradproof grade`` process of its own
(:mod:`gradproof.classroom`): ``RESULTS/grades.csv``, per-student feedback and ``report.html``.

``gradproof autograder [--api ...] [--points points.toml] -o autograder.zip`` writes the bundle
Gradescope's programming assignments take (:mod:`gradproof.autograder`).

``gradproof bench-report RESULTS.json [MORE.json ...] [--plot conv.png] [--markdown]`` prints the
conv benchmarks' table (:mod:`gradproof.bench`) and draws their plot.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gradproof.grading.courses import APIS


def _grading_options(parser: argparse.ArgumentParser, whose: str, *, sandbox: bool = True) -> None:
    """The options of a grade, shared by ``grade``, ``grade-class`` (for every submission) and
    ``autograder`` (for its run_autograder)."""
    parser.add_argument("--api", choices=APIS, help=f"{whose}' API (default: detected)")
    parser.add_argument("--points", metavar="FILE", help="a TOML file with a [points] table")
    parser.add_argument(
        "--convention",
        action="append",
        default=[],
        metavar="COURSE-YEAR",
        help="a course's year, such as cs231n-2017",
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="CPU seconds one call may use (default 5)"
    )
    parser.add_argument(
        "--total-timeout",
        type=float,
        metavar="SECONDS",
        help="budget of one submission's grade (default 3600)",
    )
    if sandbox:
        parser.add_argument(
            "--require-sandbox", action="store_true", help="refuse to grade where bubblewrap cannot sandbox"
        )
    parser.add_argument("--profile", default="ci", help="Hypothesis profile: dev, ci (default) or thorough")
    parser.add_argument(
        "--numpy",
        metavar="VERSION",
        help=f"the NumPy {whose} run with (see numpy-env), or `grader` for ours (default: the course's "
        "where installed, NumPy 1.26.4 for Coursera; else ours)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradproof", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade candidates (files or modules) against the reference")
    grade.add_argument("candidates", nargs="+", metavar="PATH_OR_MODULE")
    grade.add_argument("--json", metavar="PATH", help="write a Gradescope results.json here")
    _grading_options(grade, "the candidates")
    user = commands.add_parser(
        "worker-user",
        help="as root, where bubblewrap cannot run (Docker): create the unprivileged user candidates run "
        "as, and take other users' rights away from the grader's folders",
    )
    user.add_argument("--protect", nargs="*", metavar="PATH", default=None, help="more folders to protect")
    env = commands.add_parser(
        "numpy-env", help="install another NumPy for the candidates' workers (code written for NumPy 1)"
    )
    env.add_argument("version", metavar="VERSION", help="a NumPy release, such as 1.26.4")
    klass = commands.add_parser(
        "grade-class", help="grade a folder of submissions, one per student; grades.csv, feedback, report"
    )
    klass.add_argument("submissions", metavar="SUBMISSIONS", help="a folder: one entry per student")
    klass.add_argument("--out", required=True, metavar="RESULTS", help="the folder the results go to")
    klass.add_argument("--jobs", type=int, metavar="N", help="grades at a time (default: the cores)")
    klass.add_argument("--force", action="store_true", help="regrade submissions graded before")
    klass.add_argument("--roster", metavar="CSV", help="a CSV of id, name, email per student")
    klass.add_argument(
        "--dask", metavar="ADDRESS", help="grade on a Dask cluster: tcp://host:port, or local:N workers here"
    )
    _grading_options(klass, "the submissions")
    klass.add_argument("--no-progress", action="store_true", help="no progress bar, one line per student")
    bundle = commands.add_parser(
        "autograder", help="write a Gradescope autograder.zip that grades with gradproof"
    )
    bundle.add_argument("-o", "--output", default="autograder.zip", metavar="ZIP", help="where to write it")
    _grading_options(bundle, "the submissions", sandbox=False)  # the bundle always requires one
    report = commands.add_parser(
        "bench-report", help="tabulate and plot conv benchmark results (pytest-benchmark JSON files)"
    )
    report.add_argument("results", nargs="+", metavar="RESULTS.json", help="one file per run")
    report.add_argument("--plot", metavar="PNG", help="write a log-log plot of time against FLOPs here")
    report.add_argument("--markdown", action="store_true", help="tables in Markdown")
    return parser


def bench_report(args: argparse.Namespace) -> int:
    from gradproof import bench

    try:
        results = bench.load(args.results)
    except (OSError, ValueError, KeyError) as exc:
        print(f"gradproof bench-report: {exc}", file=sys.stderr)
        return 2
    print("\n".join(bench.table(results, markdown=args.markdown)))
    if args.plot:
        bench.plot(results, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def worker_user(args: argparse.Namespace) -> int:
    """``gradproof worker-user``: the fallback sandbox's user, and the grader's folders closed to it."""
    import gradproof
    import reference
    from gradproof.grading import sandbox

    if os.geteuid() != 0:
        print("gradproof worker-user: run it as root (it creates a user)", file=sys.stderr)
        return 2
    try:
        uid, _ = sandbox.make_worker_user()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"gradproof worker-user: {exc}", file=sys.stderr)
        return 2
    folders = [Path(gradproof.__file__).parent, Path(reference.__file__).parent]
    folders += [Path(p) for p in args.protect or ()]
    for path in sandbox.protect(folders):
        print(f"closed to other users: {path}")
    print(f"candidates run as {sandbox.WORKER_USER} (uid {uid}) where bubblewrap cannot run")
    return 0


def grade_class(args: argparse.Namespace) -> int:
    from gradproof import classroom
    from gradproof.grading.courses import check_conventions
    from gradproof.grading.scoreboard import load_points

    if args.dask and not re.fullmatch(r"local:[1-9]\d*|(tcp|tls|ucx|ws|wss|inproc)://.+", args.dask):
        print(f"gradproof grade-class: --dask {args.dask}: write tcp://HOST:PORT or local:N", file=sys.stderr)
        return 2
    if args.jobs is not None and args.jobs < 1:
        print("gradproof grade-class: --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        check_conventions(args.convention)
        points = None
        if args.points:
            load_points(args.points)  # checked here, once, rather than in every submission's grade
            points = Path(args.points).read_text()
        roster = Path(args.roster) if args.roster else None
        submissions, skipped = classroom.find_submissions(Path(args.submissions), roster)
    except (OSError, ValueError) as exc:
        print(f"gradproof grade-class: {exc}", file=sys.stderr)
        return 2
    for line in skipped:
        print(line)
    if not submissions:
        print(f"gradproof grade-class: no submission in {args.submissions}", file=sys.stderr)
        return 2
    options = classroom.ClassOptions(
        api=args.api,
        points=points,
        conventions=tuple(args.convention),
        timeout=args.timeout,
        total_timeout=args.total_timeout,
        require_sandbox=args.require_sandbox,
        profile=args.profile,
        numpy=args.numpy,
    )
    run = classroom.ClassRun(
        submissions,
        Path(args.out),
        options,
        force=args.force,
        dask=args.dask,
        progress=not args.no_progress,
        points_order=classroom.points_order(points),
    )
    if args.jobs is not None:
        run.jobs = args.jobs

    def stop(signum, frame):
        raise KeyboardInterrupt  # a scheduler's SIGTERM ends the run as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    try:
        rows = run.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted: the students graded so far are in {args.out}", file=sys.stderr)
        return 130
    graded = sum(record["status"] == "graded" for _, record in rows)
    print(f"{graded} of {len(rows)} submissions graded: {Path(args.out) / 'grades.csv'}, report.html")
    return 0


def autograder(args: argparse.Namespace) -> int:
    from gradproof import autograder as bundle
    from gradproof.grading.courses import check_conventions
    from gradproof.grading.scoreboard import load_points

    try:
        check_conventions(args.convention)
        load_points(args.points)
        path = bundle.build(
            Path(args.output),
            api=args.api,
            points=Path(args.points) if args.points else None,
            conventions=args.convention,
            timeout=args.timeout,
            total_timeout=args.total_timeout,
            profile=args.profile,
            numpy=args.numpy,
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"gradproof autograder: {exc}", file=sys.stderr)
        return 2
    print(f"Gradescope autograder written to {path}: upload it as the assignment's autograder")
    return 0


def pytest_args(args: argparse.Namespace, extra: list[str], home: str | None = None) -> list[str]:
    """The pytest command line ``gradproof grade`` runs; ``home``, a folder of the grade's own."""
    # Nothing is written next to a submission: no pytest cache, no .benchmarks (the benchmark plugin
    # is of no use to a grade), and Hypothesis's storage goes to a temporary folder (see main).
    argv = ["--pyargs", "gradproof.grading.grade_tests", "-q", "--no-header"]
    argv += ["-p", "no:cacheprovider", "-p", "no:benchmark"]
    if home is not None:
        # pytest's own configuration only: a conftest.py or pytest.ini where the grade runs (a
        # student's folder) would run code in the grader or switch gradproof off.
        ini = os.path.join(home, "pytest.ini")
        with open(ini, "w") as f:
            f.write("[pytest]\n")
        # The tests' own folder as the root: test ids read grade_tests.py::test_forward[...].
        tests = os.path.dirname(importlib.util.find_spec("gradproof.grading.grade_tests").origin)
        argv += ["--noconftest", "-c", ini, f"--rootdir={tests}"]
    # The built-in profiles go by gradproof's own names (gradproof-ci), which need no pyproject.toml.
    profile = f"gradproof-{args.profile}" if args.profile in ("dev", "ci", "thorough") else args.profile
    argv += [f"--hypothesis-profile={profile}"]
    # `--option=value`: pytest looks for its rootdir among the arguments before plugins register
    # their options, and would take a detached candidate path for one.
    argv += [f"--candidate={candidate}" for candidate in args.candidates]
    for option, value in (
        ("--grade-json", args.json),
        ("--candidate-api", args.api),
        ("--points", args.points),
        ("--candidate-timeout", args.timeout),
        ("--total-timeout", args.total_timeout),
        ("--candidate-numpy", args.numpy),
    ):
        if value is not None:
            argv.append(f"{option}={value}")
    if args.require_sandbox:
        argv.append("--require-sandbox")
    argv += [f"--convention={name}" for name in args.convention or ()]
    return argv + extra


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench-report":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return bench_report(args)
    if args.command in ("grade-class", "autograder"):
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return grade_class(args) if args.command == "grade-class" else autograder(args)
    if args.command == "worker-user":
        return worker_user(args)
    if args.command == "numpy-env":
        from gradproof.grading import numpy_env

        try:
            folder = numpy_env.install(args.version)
        except (ValueError, OSError, subprocess.CalledProcessError) as exc:
            print(f"gradproof numpy-env: {exc}", file=sys.stderr)
            return 2
        print(f"NumPy {args.version} for the workers: {folder}")
        print(f"grade with: gradproof grade --numpy {args.version} ...")
        return 0
    # Hypothesis keeps its examples under .hypothesis/ of the working directory: a grade keeps them
    # in a temporary folder instead (read when Hypothesis first stores, so an import does not set it).
    with tempfile.TemporaryDirectory(prefix="gradproof-grade-") as home:
        os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = os.path.join(home, "hypothesis")
        return int(pytest.main(pytest_args(args, extra, home)))


if __name__ == "__main__":
    sys.exit(main())
