"""gradproof.grading.loader: what of a student's file runs, and what it says about the rest."""

from __future__ import annotations

import ast
import json

import pytest

from gradproof.grading import loader
from gradproof.grading.candidates import declared, from_spec


def kept_and_skipped(source: str) -> tuple[str, list[int]]:
    tree, skipped = loader.definitions_only(ast.parse(source))
    return ast.unparse(tree), [node.lineno for node in skipped]


def test_definitions_and_the_constants_they_read_are_kept_and_test_code_is_not():
    source = """
import numpy as np
BASE = 2.0
EPS = 1e-8 * BASE
Z = np.zeros(3)
def relu(x):
    Z = np.maximum(x, 0)  # a local Z: the module's Z is not needed
    return Z + EPS
print(relu(Z))
if __name__ == "__main__":
    relu(1)
"""
    kept, skipped = kept_and_skipped(source)
    assert "BASE = 2.0" in kept
    assert "EPS = 1e-08 * BASE" in kept
    assert "Z = np.zeros(3)" not in kept
    assert skipped == [5, 9, 10]
    assert "except Exception as _gradproof_error" in kept  # the import is guarded


def test_a_backend_choosing_block_is_kept():
    kept, skipped = kept_and_skipped(
        "try:\n    import cupy as xp\nexcept ImportError:\n    import numpy as xp\n"
    )
    assert "import numpy as xp" in kept
    assert not skipped


def test_failed_imports_and_skipped_lines_are_reported(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text(
        "import numpy as np\nfrom missing_helpers import *\nprint('hi')\ndef f(x):\n    return np.abs(x)\n"
    )
    module, notes = loader.load_path(path, "gradproof_candidate_layers")
    assert module.f(-2) == 2
    assert notes == [
        "layers.py: loaded its definitions only; 1 top-level statement(s) never ran: line 3 `print('hi')`",
        "layers.py: `from missing_helpers import *` at line 2 failed (ModuleNotFoundError: No module named "
        "'missing_helpers'); what needs it will fail",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('x = 1\nprint "x is", x\n', 'Python 2 syntax at line 2 (a print statement: `print "x is", x`)'),
        (
            "try:\n    pass\nexcept ValueError, e:\n    pass\n",
            "Python 2 syntax at line 3 (an `except E, e` clause: `except ValueError, e:`)",
        ),
        # Backquotes in prose are no evidence of Python 2: a plain syntax error is reported as one.
        ('"""Returns `out`."""\ndef f(x)\n    return x\n', "SyntaxError at line 2: expected ':'"),
    ],
)
def test_syntax_errors_say_where_and_whether_it_is_python_2(tmp_path, source, message):
    path = tmp_path / "old.py"
    path.write_text(source)
    with pytest.raises(loader.LoadError, match="cannot load old.py: " + message.split("(")[0]) as info:
        loader.load_path(path, "gradproof_candidate_old")
    assert message in str(info.value)


def test_notebook_cells_are_named_in_notes(tmp_path):
    cells = [["%matplotlib inline\n", "import numpy as np\n"], ["def f(x):\n", "    return x\n"], ["f(1)\n"]]
    notebook = {"cells": [{"cell_type": "code", "source": c} for c in cells]}
    path = tmp_path / "work.ipynb"
    path.write_text(json.dumps(notebook))
    module, notes = loader.load_path(path, "gradproof_candidate_work")
    assert module.f(3) == 3
    assert "code cell 3 line 1 `f(1)`" in notes[0]
    assert notes[1] == "work.ipynb: IPython magics and shell lines ignored (code cell 1 line 1)"


def test_python2_hint_names_the_builtin():
    with pytest.raises(NameError) as info:
        xrange  # noqa: B018, F821
    assert loader.python2_hint(info.value).startswith(" (xrange is Python 2")


def test_numpy1_scalar_conversion_is_named():
    """The 2018 Coursera template's float(b), b of shape (1, 1, 1), raises under NumPy 2."""
    import numpy as np

    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip(f"NumPy {np.__version__} still converts a size-1 array with dimensions (it warns)")
    with pytest.raises(TypeError) as info:
        float(np.zeros((1, 1, 1)))
    hint = loader.hint(info.value)
    assert hint.startswith(" (fails on this NumPy only: NumPy 2")
    assert "--numpy 1.26.4" in hint


BROKEN_ONCE = '''import numpy as np


def affine_forward(x, w, b):
    """Docstring
with a line at column 0."""
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def relu_forward(x):
    out = np.zeros_like(x)
    for i range(x.size):
        out.flat[i] = max(x.flat[i], 0)
    return out, x


@staticmethod
def relu_backward(dout, cache):
    return dout * (cache > 0)


if True:
    pass
else:
    pass
'''


def test_a_syntax_error_costs_its_definition_only(tmp_path):
    """A real export's `for i range(m):` in one function: the rest of the file is loaded and graded."""
    path = tmp_path / "layers.py"
    path.write_text(BROKEN_ONCE)
    module, notes = loader.load_path(path, "gradproof_candidate_broken_once")
    assert hasattr(module, "affine_forward")
    assert hasattr(module, "relu_backward")
    assert not hasattr(module, "relu_forward")
    assert notes[0] == (
        "layers.py: SyntaxError at line 12: invalid syntax: `for i range(x.size):`; left out def "
        "relu_forward (lines 10-14), which counts as not implemented; the rest of the file is graded"
    )
    assert declared(from_spec(str(path))).names == {"affine_forward", "relu_backward"}


def test_a_python2_file_that_parses_is_named_whatever_fails_first(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text(
        "import numpy as np\n\n\ndef f(x):\n    n = x.shape[0] / 2\n    return x[:n]\n\n\n"
        "def g(x):\n    return [i for i in xrange(x)]\n"
    )
    _, notes = loader.load_path(path, "gradproof_candidate_py2_parses")
    assert notes == [
        "layers.py: written for Python 2 (`xrange` at line 10): gradproof grades Python 3, so its "
        "functions may fail there, also before they reach it (in Python 3, `/` divides to a float, which "
        "cannot index an array: `//` divides to an int)"
    ]


def test_a_python3_file_with_its_own_reduce_is_not_python2(tmp_path):
    path = tmp_path / "layers.py"
    path.write_text("from functools import reduce\n\n\ndef f(x, long=1):\n    return reduce(max, x) * long\n")
    _, notes = loader.load_path(path, "gradproof_candidate_py3_reduce")
    assert notes == []
