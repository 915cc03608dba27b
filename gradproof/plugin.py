"""gradproof's pytest plugin, registered through the ``pytest11`` entry point.

It

* registers the Hypothesis profiles ``dev``, ``ci`` and ``thorough`` (chosen with
  ``--hypothesis-profile``), with values from the ``[tool.gradproof.hypothesis]`` table of the
  project's ``pyproject.toml`` laid over the defaults below;
* parametrises every test that takes an ``op_spec`` argument over the registered ops (and
  ``optimizer_spec`` over the optimizers), so each (property, op) pair is its own test id and
  ``pytest -k NAME`` selects an op;
* adds to each failed op test the command that reproduces it.

It must stay cheap to load: pytest loads it in every run of an environment where gradproof is
installed, so it imports neither torch nor the registered ops until a test asks for them.
"""

from __future__ import annotations

import os
import shlex
import time
import tomllib
from pathlib import Path

import pytest
from hypothesis import settings

from gradproof.core import registry
from gradproof.grading.courses import APIS, check_conventions

DEFAULT_PROFILES: dict[str, dict] = {
    # No deadline in any profile: the first example of a run pays for importing torch, and speed is
    # the benchmarks' business, not a property's.
    "dev": {"max_examples": 50},
    "ci": {"max_examples": 100, "derandomize": True, "database": None},
    "thorough": {"max_examples": 1000},
}
COMMON = {"deadline": None, "print_blob": True}


def _project_table(config: pytest.Config) -> dict:
    path = config.inipath
    if path is None or path.name != "pyproject.toml":
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f).get("tool", {}).get("gradproof", {}).get("hypothesis", {})


def _settings_from_toml(values: dict) -> dict:
    # TOML has no null: `database = false` means no example database.
    return {key: (None if key == "database" and value is False else value) for key, value in values.items()}


def register_profiles(table: dict | None = None) -> None:
    """Register the built-in profiles, each overlaid with ``table["profiles"][name]``."""
    overrides = (table or {}).get("profiles", {})
    # Hypothesis's own defaults as the explicit parent: a profile without one falls back to whichever
    # profile is loaded when it is read, so `thorough` run under CI would inherit `ci`'s derandomize.
    base = settings.get_profile("default")
    for name in DEFAULT_PROFILES.keys() | overrides.keys():
        values = {**COMMON, **DEFAULT_PROFILES.get(name, {}), **_settings_from_toml(overrides.get(name, {}))}
        settings.register_profile(name, parent=base, **values)


register_profiles()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # tryfirst: Hypothesis's own pytest_configure loads --hypothesis-profile after this has run.
    table = _project_table(config)
    register_profiles(table)
    default = table.get("ci-profile" if os.environ.get("CI") else "default-profile")
    if default:
        settings.load_profile(default)
    if config.getoption("--convention", None):
        try:
            check_conventions(config.getoption("--convention"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


GRADING_KEY = pytest.StashKey["object"]()
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
        help="wall-clock limit of one call into a candidate (default 5)",
    )
    group.addoption(
        "--convention",
        action="append",
        default=[],
        metavar="COURSE-YEAR",
        help="the year of a course whose conventions changed (cs231n-2017: dropout p drops a unit and "
        "Adam's t starts at 1; cs231n-2019, the default: p keeps a unit, t starts at 0); repeatable, "
        "one per course",
    )
    group.addoption(
        "--strict-shapes",
        action="store_true",
        help="fail a result returned in a harmless shape variant, such as (1, D) where the template asks "
        "for (D,) (default: grade its values, with a warning in the report)",
    )
    group.addoption("--grade-json", default=None, metavar="PATH", help="write a Gradescope results.json here")
    group.addoption(
        "--points", default=None, metavar="FILE", help="a TOML file with a [points] table: op name -> points"
    )


def _grading(config: pytest.Config):
    """The run's candidates and what each is graded on, built on first use (workers start here)."""
    grading = config.stash.get(GRADING_KEY, None)
    if grading is None:
        from gradproof.grading import process as candidates
        from gradproof.grading.report import Grading, load_points

        given = config.getoption("--candidate")
        found = (
            candidates.unique_names([candidates.from_spec(text) for text in given])
            if given
            else candidates.discover(Path(config.rootpath) / "candidates")
        )
        timeout = config.getoption("--candidate-timeout") or candidates.DEFAULT_TIMEOUT
        # --convention was checked at configure time.
        grading = Grading(
            found,
            config.getoption("--candidate-api"),
            timeout,
            load_points(config.getoption("--points")),
            config.getoption("--convention"),
            config.getoption("--strict-shapes"),
        )
        config.stash[GRADING_KEY] = grading
        config.stash[START_KEY] = time.monotonic()
    return grading


def pytest_report_header(config: pytest.Config) -> list[str]:
    specs = registry.all_specs()
    optimizers = registry.all_optimizers()
    lines = [
        f"gradproof: {len(specs)} ops: {', '.join(spec.name for spec in specs)}",
        f"gradproof: {len(optimizers)} optimizers: {', '.join(spec.name for spec in optimizers)}",
    ]
    for name in registry.plugin_errors():
        lines.append(f"gradproof: op plug-in {name} failed to load (see test_op_plugins_load)")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "op_spec" in metafunc.fixturenames:
        specs = registry.all_specs()
        metafunc.parametrize("op_spec", specs, ids=[spec.name for spec in specs])
    if "optimizer_spec" in metafunc.fixturenames:
        optimizers = registry.all_optimizers()
        metafunc.parametrize("optimizer_spec", optimizers, ids=[spec.name for spec in optimizers])
    if "candidate_worker" in metafunc.fixturenames:
        grades = _grading(metafunc.config).grades
        metafunc.parametrize(
            "candidate_worker", [g.worker for g in grades], ids=[g.candidate.name for g in grades]
        )
    for name, units in (("graded_op", "graded_ops"), ("graded_optimizer", "graded_optimizers")):
        if name in metafunc.fixturenames:
            graded = getattr(_grading(metafunc.config), units)
            from gradproof.grading.grade_tests import BACKWARD_TESTS

            if metafunc.function.__name__ in BACKWARD_TESTS:
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
    if item.nodeid.startswith("::"):  # collected by module name (`gradproof grade`): no file path to give
        target = ["--pyargs", shlex.quote(f"{item.module.__name__}{item.nodeid}")]
    else:
        target = [shlex.quote(item.nodeid)]
    # `--candidate=PATH`: a detached path would be taken for pytest's root directory.
    parts = ["pytest", *target, shlex.quote(f"--candidate={candidate.target}")]
    if config.getoption("--candidate-api"):
        parts.append(f"--candidate-api={config.getoption('--candidate-api')}")
    parts += [f"--convention={name}" for name in config.getoption("--convention")]
    if config.getoption("--strict-shapes"):
        parts.append("--strict-shapes")
    parts.append(f"--hypothesis-profile={settings.get_current_profile_name()}")
    return " ".join(parts)


def _record(item: pytest.Item, report, call, candidate, unit) -> None:
    from gradproof.grading.report import CHECK_NAMES, Outcome

    grading = item.config.stash.get(GRADING_KEY, None)
    if grading is None:
        return
    check = CHECK_NAMES.get(getattr(item, "originalname", item.name), item.name)
    reason, output = "", ""
    if report.failed:
        exc = call.excinfo.value if call.excinfo is not None else None
        text = str(exc) if exc is not None else str(report.longrepr)
        reason = next((line.strip() for line in text.splitlines() if line.strip()), "failed")
        if len(reason) > 160:
            reason = reason[:157] + "..."
        command = _reproduce_candidate(item, candidate)
        output = f"{text}\n\nreproduce: {command}"
        report.sections.append(("gradproof: reproduce", command))
    grading.record(candidate.name, unit, Outcome(check, report.passed, reason, output, report.duration))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    grading = config.stash.get(GRADING_KEY, None)
    if grading is None or not grading.grades:
        return
    markup = terminalreporter.isatty
    terminalreporter.section("gradproof grade")
    for text, style in grading.table(markup):
        terminalreporter.write_line(text, **{k: v for k, v in style.items() if v})
    path = config.getoption("--grade-json")
    if path:
        terminalreporter.write_line(f"Gradescope results written to {path}")


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    # Also on an interrupted run: the grade of what ran is written.
    config = session.config
    grading = config.stash.get(GRADING_KEY, None)
    path = config.getoption("--grade-json", None)
    if path and grading is not None:
        grading.write_gradescope(path, time.monotonic() - config.stash.get(START_KEY, time.monotonic()))


def pytest_unconfigure(config: pytest.Config) -> None:
    grading = config.stash.get(GRADING_KEY, None)
    if grading is not None:
        grading.close()
