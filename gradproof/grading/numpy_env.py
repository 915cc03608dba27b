"""Another NumPy for the candidates' workers: code written for a course's NumPy 1.x (the Coursera
notebook's ``float(b)`` on a ``(1, 1, 1)`` array, which NumPy 2 refuses) is graded as it ran.

The worker needs NumPy alone, and arrays cross between the processes as raw bytes with their
dtype, which every NumPy reads, so the grading process keeps its own NumPy and only the worker
imports the other one: ``gradproof numpy-env 1.26.4`` installs it once beside this Python's
packages (``pip install --target``), and
``gradproof grade --numpy 1.26.4`` grades with it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def cache_dir() -> Path:
    """Where the other NumPys are kept: beside this Python's packages (the venv's), so that every
    grade run by this installation finds them, whatever its user's home."""
    return Path(sys.prefix) / "share" / "gradproof"


def _folder(version: str) -> Path:
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        raise ValueError(f"--numpy {version!r}: write a NumPy release, such as 1.26.4")
    return cache_dir() / f"numpy-{version}"


GRADER = "grader"
"""``--numpy grader``: the grader's own NumPy, whatever the course ran."""


def installed(version: str) -> Path | None:
    """The folder of NumPy ``version`` for the workers, or None where it is not installed."""
    folder = _folder(version)
    return folder if (folder / "numpy" / "__init__.py").is_file() else None


def find(version: str) -> Path:
    """The folder that holds NumPy ``version`` for the workers (ValueError where it is not installed)."""
    folder = installed(version)
    if folder is None:
        folder = _folder(version)
        raise ValueError(
            f"--numpy {version}: not installed for gradproof's workers; run `gradproof numpy-env {version}` "
            "once (it installs NumPy into " + str(folder) + ")"
        )
    return folder


def install(version: str) -> Path:
    """Install NumPy ``version`` (for this Python) into the cache folder, once."""
    folder = _folder(version)
    if not (folder / "numpy" / "__init__.py").is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(folder),
             f"numpy=={version}"],
            check=True,
        )  # fmt: skip
    return folder
