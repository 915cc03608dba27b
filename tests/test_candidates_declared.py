"""Candidates as a user names them, and what their source declares, read without running a line of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradproof.grading import loader
from gradproof.grading.candidates import Candidate, Declared, declared, from_spec, unique_names
from gradproof.grading.courses import detect
from tests.inprocess import CANDIDATES, isolated_imports

WILD = CANDIDATES / "wild"


# -- from_spec and unique_names ---------------------------------------------------------------------


def test_a_file_is_a_path_candidate_named_after_its_stem(tmp_path, monkeypatch):
    (tmp_path / "2-conv_backward.py").write_text("")
    (tmp_path / "My Notebook.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert from_spec("2-conv_backward.py") == Candidate(
        "c_2_conv_backward", "path", str(tmp_path / "2-conv_backward.py")
    )
    notebook = from_spec("My Notebook.ipynb")
    assert (notebook.name, notebook.kind) == ("My_Notebook", "path")
    assert Path(notebook.target).is_absolute()


def test_a_folder_is_a_folder_candidate(tmp_path, monkeypatch):
    (tmp_path / "alice-hw2").mkdir()
    monkeypatch.chdir(tmp_path)
    assert from_spec("alice-hw2") == Candidate("alice_hw2", "folder", str(tmp_path / "alice-hw2"))
    assert from_spec(str(WILD / "split")).kind == "folder"


def test_a_dotted_name_is_a_module_candidate():
    assert from_spec("student_pkg.layers") == Candidate("layers", "module", "student_pkg.layers")
    assert from_spec("layers") == Candidate("layers", "module", "layers")


def test_a_missing_file_is_an_error_at_once(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        from_spec(str(tmp_path / "missing.py"))
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        from_spec(str(tmp_path / "missing.ipynb"))


def test_repeated_names_get_a_suffix_in_order():
    found = unique_names(
        [
            Candidate("layers", "path", "/a/layers.py"),
            Candidate("layers", "path", "/b/layers.py"),
            Candidate("other", "module", "other"),
            Candidate("layers", "module", "layers"),
        ]
    )
    assert [c.name for c in found] == ["layers", "layers_2", "other", "layers_3"]
    assert [c.target for c in found] == ["/a/layers.py", "/b/layers.py", "other", "layers"]


# -- declared ---------------------------------------------------------------------------------------


def write(path: Path, source: str) -> Candidate:
    path.write_text(source)
    return from_spec(str(path))


def test_a_files_functions_and_their_parameter_counts(tmp_path):
    candidate = write(
        tmp_path / "layers.py",
        "import numpy as np\n"
        "from numpy import maximum\n"
        "EPS = 1e-8\n"
        "def affine_forward(x, w, b):\n"
        "    def helper(y):\n"  # nested: not the candidate's API
        "        return y\n"
        "    return x @ w + b, (x, w)\n"
        "def takes_all(a, /, b, *args, c, d=1, **kwargs):\n"
        "    pass\n"
        "async def fetch(url):\n"
        "    pass\n"
        "class Layer:\n"
        "    def forward(self, x):\n"
        "        return x\n",
    )
    found = declared(candidate)
    assert found.names == {"affine_forward", "takes_all", "fetch", "Layer"}
    assert found.params == {"affine_forward": 3, "takes_all": 6, "fetch": 1}


def test_definitions_inside_top_level_if_and_try_blocks(tmp_path):
    candidate = write(
        tmp_path / "backend.py",
        "try:\n"
        "    import cupy as xp\n"
        "    def on_gpu(x):\n"
        "        return x\n"
        "except ImportError:\n"
        "    import numpy as xp\n"
        "else:\n"
        "    def after(x, y):\n"
        "        return x\n"
        "finally:\n"
        "    def cleanup():\n"
        "        pass\n"
        "if xp.__name__ == 'numpy':\n"
        "    if True:\n"
        "        def relu_forward(x):\n"
        "            return xp.maximum(x, 0), x\n"
        "else:\n"
        "    def relu_backward(dout, cache):\n"
        "        return dout\n"
        "for i in range(2):\n"  # a loop is not a definition block
        "    def looped():\n"
        "        pass\n",
    )
    found = declared(candidate)
    assert found.names == {"on_gpu", "after", "cleanup", "relu_forward", "relu_backward"}
    assert found.params == {"on_gpu": 1, "after": 2, "cleanup": 0, "relu_forward": 1, "relu_backward": 2}


def test_a_notebooks_code_cells_magics_and_all(tmp_path):
    cells = [
        {"cell_type": "markdown", "source": ["def not_code(x):\n", "    pass\n"]},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "import numpy as np\n"]},
        {"cell_type": "code", "source": "def zero_pad(X, pad):\n    return np.pad(X, pad)\n"},
        {
            "cell_type": "code",
            "source": ["!ls\n", "def conv_forward(A_prev, W, b, hparameters):\n", "    pass"],
        },
    ]
    path = tmp_path / "Step_by_Step.ipynb"
    path.write_text(json.dumps({"cells": cells, "nbformat": 4}))
    found = declared(from_spec(str(path)))
    assert found == Declared(frozenset({"zero_pad", "conv_forward"}), {"zero_pad": 2, "conv_forward": 4})
    assert declared(from_spec(str(WILD / "Convolution_model_Step_by_Step.ipynb"))).params == {"zero_pad": 2}


def test_a_folder_of_one_function_files():
    split = declared(from_spec(str(WILD / "split")))
    assert split.params == {"zero_pad": 2, "conv_forward": 4, "conv_backward": 2}
    assert split.names == set(split.params)
    bootcamp = declared(from_spec(str(WILD / "bootcamp")))
    assert bootcamp.params == {
        "conv_forward": 6,
        "conv_backward": 6,
        "pool_forward": 4,
        "pool_backward": 5,
        "update_variables_momentum": 5,
        "update_variables_Adam": 9,
    }
    # The parameter counts are what tells the two APIs that share these names apart.
    assert detect(split.names, split.params).name == "coursera"
    assert detect(bootcamp.names, bootcamp.params).name == "bootcamp"


def test_a_file_that_does_not_parse_declares_nothing(tmp_path):
    assert declared(from_spec(str(CANDIDATES / "syntax_error.py"))) == Declared()
    assert declared(from_spec(str(WILD / "python2_layers.py"))) == Declared()
    assert declared(write(tmp_path / "broken.ipynb", "{not json")) == Declared()
    undecodable = tmp_path / "latin1.py"
    undecodable.write_bytes(b"# caf\xe9\ndef f(x):\n    return x\n")
    assert declared(from_spec(str(undecodable))).names == {"f"}  # read with replacement, not refused


def test_a_module_is_read_from_its_source_file(tmp_path, monkeypatch):
    package = tmp_path / "student_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text(
        "def relu_forward(x):\n    return x, x\ndef relu_backward(dout, cache):\n    pass\n"
    )
    (tmp_path / "flat_layers.py").write_text("def sgd(w, dw, config=None):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with isolated_imports():
        assert declared(from_spec("student_pkg.layers")).params == {"relu_forward": 1, "relu_backward": 2}
        assert declared(from_spec("flat_layers")) == Declared(frozenset({"sgd"}), {"sgd": 3})
        assert declared(from_spec("no_such_module_anywhere")) == Declared()
        assert declared(from_spec("no_such_package.layers")) == Declared()
        assert declared(from_spec("sys")) == Declared()  # built in: no source to read


TOP_LEVEL_WRITES = "open({marker!r}, 'w').write('ran')\ndef relu_forward(x):\n    return x, x\n"


def test_declared_never_runs_the_candidate(tmp_path, monkeypatch):
    marker = tmp_path / "ran.txt"
    source = TOP_LEVEL_WRITES.format(marker=str(marker))
    file = write(tmp_path / "writes.py", source)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "part.py").write_text(source)
    notebook = tmp_path / "writes.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": source}]}))
    (tmp_path / "writes_module.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with isolated_imports():
        for candidate in (file, from_spec(str(folder)), from_spec(str(notebook)), from_spec("writes_module")):
            assert declared(candidate).names == {"relu_forward"}, candidate
            assert not marker.exists(), f"declared({candidate}) ran its top level"
    # The marker line works: loading (as the worker does, definitions only) skips it, running writes it.
    exec(compile(source, "writes.py", "exec"), {})
    assert marker.exists()


NOT_IN_PROCESS = ("exits_at_import.py", "misbehaving.py", "syntax_error.py")
"""Planted files never loaded here: loading runs a decorator that exits, or an ``np.allclose = ...`` the
loader keeps; or it fails (see :mod:`tests.inprocess`)."""
PLANTED = [
    *sorted(p for p in CANDIDATES.glob("*.py") if p.name not in NOT_IN_PROCESS),
    *sorted(p for p in WILD.glob("*.py") if p.name != "python2_layers.py"),
    *sorted((CANDIDATES / "mutants").glob("*.py")),
    WILD / "Convolution_model_Step_by_Step.ipynb",
    WILD / "split",
    WILD / "bootcamp",
]


@pytest.mark.parametrize("path", PLANTED, ids=lambda p: str(p.relative_to(CANDIDATES)))
def test_what_is_declared_is_what_the_worker_loads(path):
    """The units a candidate is planned for, from its source, are the functions its worker will have
    (loaded here, as the worker loads them: our own planted files, definitions only)."""
    candidate = from_spec(str(path))
    with isolated_imports():
        module, _ = loader.load_path(path, f"gradproof_test_{candidate.name}")
    assert declared(candidate).names == module.__gradproof_defined__


def test_a_definition_inside_an_if_block_is_loaded_as_it_is_declared(tmp_path):
    path = tmp_path / "versioned.py"
    candidate = write(
        path,
        "import numpy as np\n"
        "if np.__version__ >= '1':\n"
        "    def relu_forward(x):\n"
        "        return np.maximum(x, 0.0), x\n",
    )
    with isolated_imports():
        module, _ = loader.load_path(path, "gradproof_test_versioned")
    assert declared(candidate).names == module.__gradproof_defined__ == {"relu_forward"}
