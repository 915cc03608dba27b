"""gradproof's pytest plugin, registered through the ``pytest11`` entry point.

It

* registers gradproof's Hypothesis profiles under its own names, ``gradproof-dev``,
  ``gradproof-ci`` and ``gradproof-thorough`` (chosen with ``--hypothesis-profile``); a project
  that asks for gradproof with a ``[tool.gradproof.hypothesis]`` table in its ``pyproject.toml``
  gets its values laid over them, the short names ``dev``, ``ci`` and ``thorough`` as well, and
  its default profile loaded. A project without that table keeps its own profiles untouched;
* parametrises every test that takes an ``op_spec`` argument over the registered ops (and
  ``optimizer_spec`` over the optimizers), so each (property, op) pair is its own test id and
  ``pytest -k NAME`` selects an op;
* grades candidates (``--candidate``): the units are planned from their sources at collection, and
  no candidate code runs before the first grading test (``--collect-only`` runs none);
* adds to each failed op test the command that reproduces it.

It must stay cheap to load: pytest loads it in every run of an environment where gradproof is
installed, so it imports neither torch, nor the registered ops, nor the grading code until a test
asks for them.
"""

from __future__ import annotations

import os
import shlex
import time
import tomllib

import pytest
from hypothesis import settings

from gradproof.core import registry
from gradproof.grading.courses import APIS

DEFAULT_PROFILES: dict[str, dict] = {
    # No deadline in any profile: the first example of a run pays for importing torch, and speed is
    # the benchmarks' business, not a property's.
    "dev": {"max_examples": 50},
    "ci": {"max_examples": 100, "derandomize": True, "database": None},
    "thorough": {"max_examples": 1000},
}
COMMON = {"deadline": None, "print_blob": True}
PREFIX = "gradproof-"
OUTPUT_LIMIT = 8000
"""Characters of a failed check's message kept in the grade's JSON."""


def _project_table(config: pytest.Config) -> dict | None:
    """The project's ``[tool.gradproof]`` table, or None when it has none (it did not ask for us)."""
    path = config.inipath
    if path is None or path.name != "pyproject.toml":
        return None
    with open(path, "rb") as f:
        return tomllib.load(f).get("tool", {}).get("gradproof")


def _settings_from_toml(values: dict) -> dict:
    """Hypothesis settings from TOML: ``database = false`` for no example database (TOML has no
    null), and ``phases`` by name (``["explicit", "reuse", "generate"]``)."""
    from hypothesis import Phase

    converted = {}
    for key, value in values.items():
        if key == "database" and value is False:
            value = None
        elif key == "phases":
            value = [Phase[name] for name in value]
        converted[key] = value
    return converted


def register_profiles(table: dict | None = None, *, short_names: bool = False) -> None:
    """Register the built-in profiles as ``gradproof-NAME``, each overlaid with
    ``table["profiles"][NAME]``; with ``short_names``, also as ``NAME`` (with the table's other
    profiles, under their own names)."""
    overrides = (table or {}).get("profiles", {})
    # Hypothesis's own defaults as the explicit parent: a profile without one falls back to whichever
    # profile is loaded when it is read, so `thorough` run under CI would inherit `ci`'s derandomize.
    base = settings.get_profile("default")
    for name in DEFAULT_PROFILES.keys() | overrides.keys():
        values = {**COMMON, **DEFAULT_PROFILES.get(name, {}), **_settings_from_toml(overrides.get(name, {}))}
        if name in DEFAULT_PROFILES:
            settings.register_profile(PREFIX + name, parent=base, **values)
        if short_names:
            settings.register_profile(name, parent=base, **values)


register_profiles()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # tryfirst: Hypothesis's own pytest_configure loads --hypothesis-profile after this has run.
    config.addinivalue_line(
        "markers",
        "grade_check(name, needs_backward=False): a gradproof grading test; its check's name in the "
        "grade table, and whether ops with a forward only are left out of it",
    )
    project = _project_table(config)
    if project is not None:  # the project asked for gradproof: its profiles, its default
        table = project.get("hypothesis", {})
        register_profiles(table, short_names=True)
        default = table.get("ci-profile" if os.environ.get("CI") else "default-profile")
        if default:
            settings.load_profile(default)
    if config.getoption("--convention", None):
        from gradproof.grading.courses import check_conventions

        try:
            check_conventions(config.getoption("--convention"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    if config.getoption("--candidate-numpy", None) not in (None, "grader"):
        from gradproof.grading import numpy_env

        try:
            numpy_env.find(config.getoption("--candidate-numpy"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


SESSION_KEY = pytest.StashKey["object"]()
START_KEY = pytest.StashKey[float]()
CANDIDATE_FIXTURES = ("candidate_worker", "graded_op", "graded_optimizer")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradproof", "gradproof: grading candidates")
    group.addoption(
        "--candidate",
        action="append",
        default=[],
        metavar="PATH_OR_MODULE",
        help="grade this candidate (a .py file or an importable module; repeatable). Without it, every "
        "file of candidates/ and every installed gradproof.candidates entry point is graded.",
    )
    group.addoption(
        "--candidate-api",
        choices=APIS,
        default=None,
        help="the API the candidates are written to (default: detected from the names each defines)",
    )
    group.addoption(
        "--candidate-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="CPU seconds one call into a candidate may use (default 5); one that does not answer "
        "within 10 times as many seconds of wall-clock time fails too",
    )
    group.addoption(
        "--convention",
        action="append",
        default=[],
        metavar="COURSE-YEAR",
        help="the year of a course whose conventions changed (cs231n-2016: dropout p drops a unit; "
        "cs231n-2017: and Adam's t starts at 1; cs231n-2019, the default: p keeps a unit, t starts at "
        "0, group norm's gamma is (C,); cs231n-2021: gamma is (1, C, 1, 1)); repeatable, one per course",
    )
    group.addoption(
        "--candidate-numpy",
        default=None,
        metavar="VERSION",
        help="the NumPy the candidates' workers import, such as 1.26.4 for code written for NumPy 1 "
        "(install it once with `gradproof numpy-env VERSION`), or `grader` for the grader's own "
        "(default: the course's where it is installed, 1.26.4 for Coursera; else the grader's)",
    )
    group.addoption(
        "--strict-shapes",
        action="store_true",
        help="fail a result returned in a harmless shape variant, such as (1, D) where the template asks "
        "for (D,) (default: grade its values, with a warning in the report)",
    )
    group.addoption(
        "--strict-ties",
        action="store_true",
        help="deduct a backward that follows another rule than its course's where the gradient is a "
        "convention: a max-pool window's tied maximum, relu at exactly 0 (default: a note; the courses' "
        "own checks never produce either)",
    )
    group.addoption(
        "--total-timeout",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="wall-clock budget of the whole grade (default 3600): the checks not started by then are "
        "not run, score 0, and the grade says it is incomplete",
    )
    group.addoption(
        "--require-sandbox",
        action="store_true",
        help="refuse to run a candidate where bubblewrap cannot sandbox it (default: run it without "
        "isolation, and say so in the grade)",
    )
    group.addoption("--grade-json", default=None, metavar="PATH", help="write a Gradescope results.json here")
    group.addoption(
        "--points", default=None, metavar="FILE", help="a TOML file with a [points] table: op name -> points"
    )


def _session(config: pytest.Config):
    """The run's candidates and what each is graded on, planned on first use from their sources; no
    candidate code runs here (workers start at the first grading test that calls one)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        from pathlib import Path

        from gradproof.grading import candidates
        from gradproof.grading.process import DEFAULT_TIMEOUT
        from gradproof.grading.scoreboard import load_points
        from gradproof.grading.session import Options, Session, preload

        preload()

        given = config.getoption("--candidate")
        found = (
            candidates.unique_names([candidates.from_spec(text) for text in given])
            if given
            else candidates.discover(Path(config.rootpath) / "candidates")
        )
        # --convention was checked at configure time.
        options = Options(
            api=config.getoption("--candidate-api"),
            timeout=config.getoption("--candidate-timeout") or DEFAULT_TIMEOUT,
            points=load_points(config.getoption("--points")),
            conventions=tuple(config.getoption("--convention")),
            strict_shapes=config.getoption("--strict-shapes"),
            strict_ties=config.getoption("--strict-ties"),
            require_sandbox=config.getoption("--require-sandbox"),
            numpy=config.getoption("--candidate-numpy"),
        )
        session = Session(found, options)
        config.stash[SESSION_KEY] = session
        config.stash[START_KEY] = time.monotonic()
    return session


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "op_spec" in metafunc.fixturenames:
        specs = registry.all_specs()
        metafunc.parametrize("op_spec", specs, ids=[spec.name for spec in specs])
    if "optimizer_spec" in metafunc.fixturenames:
        optimizers = registry.all_optimizers()
        metafunc.parametrize("optimizer_spec", optimizers, ids=[spec.name for spec in optimizers])
    if "candidate_worker" in metafunc.fixturenames:
        grades = _session(metafunc.config).grades
        metafunc.parametrize(
            "candidate_worker", [g.worker for g in grades], ids=[g.candidate.name for g in grades]
        )
    for name, units in (("graded_op", "graded_ops"), ("graded_optimizer", "graded_optimizers")):
        if name in metafunc.fixturenames:
            graded = getattr(_session(metafunc.config), units)
            mark = metafunc.definition.get_closest_marker("grade_check")
            if mark is not None and mark.kwargs.get("needs_backward"):
                graded = [g for g in graded if g.binding.backward is not None]
            metafunc.parametrize(name, graded, ids=[g.id for g in graded])


def _is_candidate_test(item: pytest.Item) -> bool:
    return any(name in getattr(item, "fixturenames", ()) for name in CANDIDATE_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `--candidate` asks for a grade: the reference's own properties are not the student's business.
    # A grading test with nothing to grade (no candidate defines an optimizer) is dropped, not
    # reported as an empty parameter set.
    only_candidates = bool(config.getoption("--candidate"))
    keep, drop = [], []
    for item in items:
        if _is_candidate_test(item):
            empty = _candidate_unit(item) == (None, None)
            (drop if empty else keep).append(item)
        elif only_candidates and "benchmark" not in getattr(item, "fixturenames", ()):
            drop.append(item)  # benchmarks time the candidates named, next to the built-in backends
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _candidate_unit(item: pytest.Item):
    params = getattr(getattr(item, "callspec", None), "params", {})
    for key in CANDIDATE_FIXTURES:
        value = params.get(key)
        if value is not None and hasattr(value, "candidate"):
            return value.candidate, "import" if key == "candidate_worker" else value.unit
    return None, None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _candidate_unit(item) == (None, None):
        return
    item.config.stash[SESSION_KEY].reached = True
    budget = item.config.getoption("--total-timeout")
    started = item.config.stash.get(START_KEY, None)
    if budget is not None and started is not None and time.monotonic() - started > budget:
        pytest.skip(f"not run: the grade's --total-timeout of {budget:g} s is used up")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    names = getattr(item, "fixturenames", ())
    candidate, unit = _candidate_unit(item)
    if candidate is not None and (report.when == "call" or report.failed):
        _record(item, report, call, candidate, unit)
    if report.failed and call.when == "call" and ("op_spec" in names or "optimizer_spec" in names):
        profile = settings.get_current_profile_name()
        command = f"pytest {shlex.quote(item.nodeid)} --hypothesis-profile {profile}"
        report.sections.append(
            (
                "gradproof: reproduce",
                f"{command}\n(the 'Falsifying example' above is the shrunk input; Hypothesis replays it "
                "first, and the @reproduce_failure line, if shown, pins it exactly)",
            )
        )
    return report


def _reproduce_candidate(item: pytest.Item, candidate) -> str:
    config = item.config
    if config.option.pyargs:  # collected by module name (`gradproof grade`): no file path to give
        test = item.nodeid.partition("::")[2]
        target = ["--pyargs", shlex.quote(f"{item.module.__name__}::{test}")]
    else:
        target = [shlex.quote(item.nodeid)]
    # `--candidate=PATH`: a detached path would be taken for pytest's root directory.
    parts = ["pytest", *target, shlex.quote(f"--candidate={candidate.target}")]
    if config.getoption("--candidate-api"):
        parts.append(f"--candidate-api={config.getoption('--candidate-api')}")
    parts += [f"--convention={name}" for name in config.getoption("--convention")]
    if config.getoption("--strict-shapes"):
        parts.append("--strict-shapes")
    if config.getoption("--strict-ties"):
        parts.append("--strict-ties")
    if config.getoption("--candidate-numpy"):
        parts.append(f"--candidate-numpy={config.getoption('--candidate-numpy')}")
    parts.append(f"--hypothesis-profile={settings.get_current_profile_name()}")
    return " ".join(parts)


def _record(item: pytest.Item, report, call, candidate, unit) -> None:
    from gradproof.grading.scoreboard import Outcome

    session = item.config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    mark = item.get_closest_marker("grade_check")
    check = mark.args[0] if mark is not None else item.name
    reason, output = "", ""
    if report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        text = str(exc) if exc is not None else str(report.longrepr)
        reason = next((line.strip() for line in text.splitlines() if line.strip()), "failed")
        if len(reason) > 160:
            reason = reason[:157] + "..."
        command = _reproduce_candidate(item, candidate)
        if len(text) > OUTPUT_LIMIT:  # candidate text (a huge exception message) stays a few kB
            text = text[:OUTPUT_LIMIT] + f"\n... ({len(text) - OUTPUT_LIMIT} more characters cut)"
        output = f"{text}\n\nreproduce: {command}"
        report.sections.append(("gradproof: reproduce", command))
    session.scoreboard.record(
        candidate.name, unit, Outcome(check, report.passed, reason, output, report.duration)
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or config.option.collectonly:
        return
    if not session.reached:
        return  # no grading test was selected (`pytest properties -k relu`): there is no grade to show
    from gradproof.grading import render

    markup = terminalreporter.isatty
    terminalreporter.section("gradproof grade")
    for text, style in render.table(session, markup):
        terminalreporter.write_line(text, **{k: v for k, v in style.items() if v})
    path = config.getoption("--grade-json")
    if path:
        terminalreporter.write_line(f"Gradescope results written to {path}")


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    # Also on an interrupted run: the grade of what ran is written.
    config = session.config
    grading = config.stash.get(SESSION_KEY, None)
    path = config.getoption("--grade-json", None)
    if path and grading is not None and not config.option.collectonly:
        from gradproof.grading import render

        render.write_gradescope(
            grading, path, time.monotonic() - config.stash.get(START_KEY, time.monotonic())
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
