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
import tomllib

import pytest
from hypothesis import settings

from gradproof import registry

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    names = getattr(item, "fixturenames", ())
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
