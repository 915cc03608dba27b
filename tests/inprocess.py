"""Loading our own planted candidates into the test process, and leaving the process as it was.

:func:`gradproof.grading.loader.load_path` is the worker's loader: it puts the candidate's folder on
``sys.path``, a finder on ``sys.meta_path`` and the files in ``sys.modules``, for the rest of the
worker's life. A test that loads a planted file in-process takes all three back afterwards, so that
one test's ``cs231n_bugs`` is not another's.

The loader also runs the top-level assignments a definition reads, and ``np.allclose = ...`` reads as
one (it names ``np``): a planted file that patches NumPy (``misbehaving.py``) patches this process.
:func:`isolated_imports` puts NumPy back and fails, so that such a file is never loaded here by mistake.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gradproof.grading import loader

CANDIDATES = Path(__file__).parent / "candidates"


@contextmanager
def isolated_imports() -> Iterator[None]:
    """``sys.path``, ``sys.meta_path`` and ``sys.modules`` as they were, after the block; NumPy too,
    with an AssertionError if the block changed it."""
    path, meta_path, modules = list(sys.path), list(sys.meta_path), set(sys.modules)
    numpy_modules = (np, np.random, np.testing)
    numpy_before = [dict(vars(module)) for module in numpy_modules]
    try:
        yield
    finally:
        sys.path[:] = path
        sys.meta_path[:] = meta_path
        for name in set(sys.modules) - modules:
            del sys.modules[name]
        patched = []
        for module, before in zip(numpy_modules, numpy_before, strict=True):
            for key, value in before.items():
                if vars(module).get(key) is not value:
                    patched.append(f"{module.__name__}.{key}")
                    setattr(module, key, value)
        assert not patched, f"loading in this process patched {', '.join(patched)} (put back)"


def load_planted(path: Path, module_name: str):
    """A planted candidate's definitions as a module, loaded as the worker loads it (only our own
    files: their top level never runs, but their functions will, in this process)."""
    with isolated_imports():
        module, _ = loader.load_path(path, module_name)
    return module
