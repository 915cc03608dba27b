"""The ``gradproof`` command.

``gradproof grade PATH [PATH ...] [--json results.json]`` runs pytest on gradproof's grading tests
(:mod:`gradproof.grading.grade_tests`) for the given candidates, with the derandomised ``ci`` profile unless
told otherwise, and prints the grade table. Options it does not know go to pytest as they are
(``-x``, ``-k conv2d``, ``-n 2``).

``gradproof bench-report RESULTS.json [MORE.json ...] [--plot conv.png] [--markdown]`` prints the
conv benchmarks' table (:mod:`gradproof.bench`) and draws their plot.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile

import pytest

from gradproof.grading.courses import APIS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradproof", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade candidates (files or modules) against the reference")
    grade.add_argument("candidates", nargs="+", metavar="PATH_OR_MODULE")
    grade.add_argument("--json", metavar="PATH", help="write a Gradescope results.json here")
    grade.add_argument("--api", choices=APIS, help="the candidates' API (default: detected)")
    grade.add_argument("--points", metavar="FILE", help="a TOML file with a [points] table")
    grade.add_argument("--timeout", type=float, metavar="SECONDS", help="limit of one call into a candidate")
    grade.add_argument(
        "--total-timeout", type=float, metavar="SECONDS", help="budget of the whole grade (default 3600)"
    )
    grade.add_argument(
        "--require-sandbox", action="store_true", help="refuse to grade where bubblewrap cannot sandbox"
    )
    grade.add_argument("--profile", default="ci", help="Hypothesis profile: dev, ci (default) or thorough")
    grade.add_argument(
        "--numpy", metavar="VERSION", help="the NumPy the candidates run with (see numpy-env; default: ours)"
    )
    grade.add_argument(
        "--convention", action="append", metavar="COURSE-YEAR", help="a course year: cs231n-2017"
    )
    env = commands.add_parser(
        "numpy-env", help="install another NumPy for the candidates' workers (code written for NumPy 1)"
    )
    env.add_argument("version", metavar="VERSION", help="a NumPy release, such as 1.26.4")
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
