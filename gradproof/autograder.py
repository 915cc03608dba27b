"""``gradproof autograder -o autograder.zip``: the bundle Gradescope's programming assignments take.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build the image,
and for every submission copies ``run_autograder`` to ``/autograder/run_autograder`` and runs it
with the student's files in ``/autograder/submission``; it shows ``/autograder/results/results.json``.
In the bundle:

* ``setup.sh``: installs bubblewrap and a Python of this one's version, a virtual environment in
  ``/autograder/venv`` with gradproof's dependencies pinned to the versions installed here
  (``requirements.txt``; torch from PyTorch's CPU index), then gradproof itself from
  ``gradproof-src/``, and creates the unprivileged user candidates run as where bubblewrap cannot
  (``gradproof worker-user``), and with ``--numpy``, that NumPy for the candidates
  (``gradproof numpy-env``);
* ``run_autograder``: ``gradproof grade /autograder/submission --require-sandbox`` with the
  options given here (``--api``, ``--points``, ``--convention`` ...) into ``results.json``; when
  the grade writes none (the grader itself failed), a results.json with score 0 that says so.

``GRADPROOF_AUTOGRADER_ROOT`` (default ``/autograder``) and ``GRADPROOF_PYTHON`` (default the
bundle's virtual environment) move both scripts elsewhere: a test runs them in a temporary root.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import shutil
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

SOURCE_PACKAGES = ("gradproof", "reference")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${{GRADPROOF_AUTOGRADER_ROOT:-/autograder}}"
apt-get update
# bubblewrap: the sandbox each submission runs in (run_autograder grades with --require-sandbox).
apt-get install -y --no-install-recommends bubblewrap {python} {python}-venv
{python} -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --upgrade pip
"$ROOT/venv/bin/pip" install -r "$HERE/requirements.txt" --extra-index-url {torch_index}
"$ROOT/venv/bin/pip" install --no-deps "$HERE/gradproof-src"
# Where Docker's profile stops bubblewrap (Gradescope's containers), candidates run as this
# unprivileged user instead, and the grader's own folders are closed to it.
"$ROOT/venv/bin/python" -m gradproof.cli worker-user --protect "$ROOT/source" "$ROOT/results"
{numpy_env}"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission into results.json.
set -u
ROOT="${{GRADPROOF_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{GRADPROOF_PYTHON:-$ROOT/venv/bin/python}}"
SOURCE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# An empty working directory: nothing the grade writes lands next to the submission.
WORK="$(mktemp -d)"
cd "$WORK"
"$PYTHON" -m gradproof.cli grade "$ROOT/submission" --json "$RESULTS" --require-sandbox {options} \\
    > "$ROOT/results/grade.log" 2>&1
STATUS=$?
cat "$ROOT/results/grade.log"
if [ ! -s "$RESULTS" ]; then
    "$PYTHON" - "$RESULTS" "$STATUS" "$ROOT/results/grade.log" <<'EOF'
import json, sys
path, status, log = sys.argv[1], sys.argv[2], open(sys.argv[3], errors="replace").read()
message = (f"The autograder could not grade this submission: gradproof exited with code {{status}} "
           "and wrote no results. Please tell your instructor. The end of its output:\\n" + log[-3000:])
json.dump({{"score": 0, "output": message, "tests": []}}, open(path, "w"), indent=2)
EOF
fi
"""


def pinned_requirements(root: Path) -> list[str]:
    """gradproof's dependencies (its base install), each pinned to the version installed here."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        requirements = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    else:
        requires = importlib.metadata.requires("gradproof") or []
        requirements = [r for r in requires if "extra ==" not in r]
    pins = []
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
        pins.append(f"{name}=={importlib.metadata.version(name)}")
    return pins


def _source_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _pyproject(root: Path) -> str:
    """A pyproject.toml that installs gradproof as this one is installed: its packages, its
    command, its pytest plugin and its ops' entry point (the dependencies are in requirements.txt)."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        version = tomllib.loads(pyproject.read_text())["project"]["version"]
    else:
        version = importlib.metadata.version("gradproof")
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "gradproof"
version = "{version}"
requires-python = ">={sys.version_info.major}.{sys.version_info.minor}"

[project.scripts]
gradproof = "gradproof.cli:main"

[project.entry-points.pytest11]
gradproof = "gradproof.plugin"

[project.entry-points."gradproof.ops"]
reference = "reference"

[tool.setuptools.packages.find]
include = ["gradproof*", "reference*"]
"""


def grade_options(
    *,
    api: str | None,
    points: bool,
    conventions: list[str],
    timeout: float | None,
    total_timeout: float | None,
    profile: str,
    numpy: str | None = None,
) -> str:
    """The options of ``gradproof grade`` in ``run_autograder``, shell-quoted."""
    options = ["--profile", profile]
    if numpy:
        options += ["--numpy", numpy]
    if api:
        options += ["--api", api]
    if timeout is not None:
        options += ["--timeout", f"{timeout:g}"]
    if total_timeout is not None:
        options += ["--total-timeout", f"{total_timeout:g}"]
    options += [f"--convention={name}" for name in conventions]
    quoted = " ".join(shlex.quote(option) for option in options)
    if points:
        quoted += ' --points "$SOURCE/points.toml"'
    return quoted


def build(
    output: Path,
    *,
    api: str | None = None,
    points: Path | None = None,
    conventions: list[str] | None = None,
    timeout: float | None = None,
    total_timeout: float | None = None,
    profile: str = "ci",
    numpy: str | None = None,
) -> Path:
    """Write the Gradescope bundle to ``output`` (a zip); returns it. ``numpy``: the NumPy release
    the candidates run with (``setup.sh`` installs it with ``gradproof numpy-env``)."""
    root = _source_root()
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    options = grade_options(
        api=api,
        points=points is not None,
        conventions=list(conventions or []),
        timeout=timeout,
        total_timeout=total_timeout,
        profile=profile,
        numpy=numpy,
    )
    numpy_env = ""
    if not numpy and api:  # the course's own NumPy (Coursera's 1.x), which the grade defaults to
        from gradproof.grading.courses import get_api

        course = get_api(api).numpy
        if course:
            numpy_env = (
                "# The NumPy the course ran, which gradproof grades its submissions with.\n"
                f'"$ROOT/venv/bin/python" -m gradproof.cli numpy-env {shlex.quote(course)}\n'
            )
    if numpy and numpy != "grader":
        numpy_env = (
            "# The NumPy the submissions were written for (run_autograder grades with --numpy).\n"
            f'"$ROOT/venv/bin/python" -m gradproof.cli numpy-env {shlex.quote(numpy)}\n'
        )
    files: dict[str, str | bytes] = {
        "setup.sh": SETUP.format(python=python, torch_index=TORCH_INDEX, numpy_env=numpy_env),
        "run_autograder": RUN.format(options=options),
        "requirements.txt": "\n".join(pinned_requirements(root)) + "\n",
        "gradproof-src/pyproject.toml": _pyproject(root),
    }
    if points is not None:
        files["points.toml"] = points.read_bytes()
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[f"gradproof-src/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=output.parent, suffix=".zip", delete=False) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in files.items():
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                executable = name in ("setup.sh", "run_autograder")
                info.external_attr = (0o100755 if executable else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, content)
    shutil.move(tmp.name, output)
    return output
