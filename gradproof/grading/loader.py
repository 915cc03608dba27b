"""Loading student code as it is handed in, without running its top level.

Notebook exports and scratch files carry module-level test code, ``get_ipython()`` calls, ``%``
magics, prints and plots. A candidate file (or every file of a candidate folder, or a notebook's
code cells) is parsed, and only its definitions run:

* function and class definitions;
* imports, each guarded: one that fails (``from testCases import *``) is noted, and only the
  functions that need it fail, when called;
* top-level assignments that a kept definition reads (``EPS = 1e-8``), and what they read in turn.

Everything else is skipped and listed in the report (``notes``). IPython magics (``%matplotlib
inline``, ``!pip install``) are not Python: their lines are blanked before parsing. A file that does
not parse says where, and says so when it is Python 2 (a print statement, ``except E, e``).

Only the standard library here: the worker imports this before the candidate.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.util
import json
import os
import re
import symtable
import sys
import types
from pathlib import Path

MAGIC = re.compile(r"^\s*(%%?|!)")
PYTHON2 = (
    (re.compile(r"^\s*print\s*(\"|'|[A-Za-z_0-9])(?!\s*=)"), "a print statement"),
    (re.compile(r"^\s*print\s*$"), "a print statement"),
    (re.compile(r"^\s*print\s*>>"), "a print statement"),
    (re.compile(r"^\s*except\s+[\w.()\s,]+,\s*\w+\s*:"), "an `except E, e` clause"),
    (re.compile(r"^\s*raise\s+[\w.]+\s*,"), "a `raise E, message` statement"),
    (re.compile(r"^\s*exec\s+[\"'\w]"), "an exec statement"),
    (re.compile(r"`[^`\n]+`"), "backquotes for repr"),
    (re.compile(r"<>"), "the <> operator"),
)
PYTHON2_NAMES = frozenset(
    {"xrange", "raw_input", "unicode", "basestring", "unichr", "long", "reduce", "execfile"}
)
SHOWN = 6


class LoadError(Exception):
    """The candidate cannot be loaded; the message says where and why, for the report."""


def read_source(path: Path) -> tuple[str, list[int]]:
    """A file's Python source: a ``.py`` file's text, or a notebook's code cells joined; and, for a
    notebook, the line each code cell starts at (to name cells in the report)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text, []
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"cannot load {path.name}: not a notebook ({exc})") from None
    cells, starts, line = [], [], 1
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = (source if isinstance(source, str) else "".join(source)).rstrip("\n") + "\n"
            cells.append(source)
            starts.append(line)
            line += source.count("\n") + 1  # the blank line joining cells
    return "\n".join(cells), starts


def _where(number: int, cell_starts: list[int]) -> str:
    if not cell_starts:
        return f"line {number}"
    cell = max(i for i, start in enumerate(cell_starts) if start <= number)
    return f"code cell {cell + 1} line {number - cell_starts[cell] + 1}"


def _python2(source: str, error_line: int | None) -> tuple[int, str, str] | None:
    """Where ``source`` is Python 2: the line the parser stopped at if it is, else the first print or
    ``except E, e`` statement (the other patterns could be prose in a docstring)."""
    lines = source.splitlines()
    if error_line and 0 < error_line <= len(lines):
        for pattern, what in PYTHON2:
            if pattern.search(lines[error_line - 1]):
                return error_line, what, lines[error_line - 1].strip()
    for number, line in enumerate(lines, 1):
        for pattern, what in PYTHON2[:4]:
            if pattern.search(line):
                return number, what, line.strip()
    return None


def parse(source: str, name: str) -> tuple[ast.Module, list[int], list[str]]:
    """The module's AST, with IPython magic lines blanked (their numbers are returned), and what
    was left out of it: a top-level statement with a syntax error is dropped, with a note, and the
    rest of the file is graded (LoadError where nothing parses, or the file is Python 2)."""
    lines = source.splitlines(keepends=True)
    magics = [i + 1 for i, line in enumerate(lines) if MAGIC.match(line)]
    for number in magics:
        lines[number - 1] = "\n"
    source = "".join(lines)
    try:
        return ast.parse(source, filename=name), magics, []
    except SyntaxError as exc:
        found = _python2(source, exc.lineno)
        if found is not None:
            number, what, line = found
            raise LoadError(
                f"cannot load {name}: Python 2 syntax at line {number} ({what}: `{line}`); "
                "gradproof grades Python 3"
            ) from None
        tree, broken = _recover(lines, name)
        if not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body):
            raise LoadError(f"cannot load {name}: {_syntax(exc)}") from None
        return tree, magics, broken


def _syntax(exc: SyntaxError) -> str:
    return f"{type(exc).__name__} at line {exc.lineno}: {exc.msg}: `{(exc.text or '').strip()}`"


CONTINUES = re.compile(r"(else|elif|except|finally)\b")


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """The top-level statements' line ranges (0-based, end exclusive): a statement starts at a line
    that is not indented, blank, a comment, a closing bracket, a clause continuing the statement
    above (``else:``) or the definition its decorator is on."""
    starts: list[int] = []
    for i, line in enumerate(lines):
        if not line.strip() or line[0] in " \t#)]}" or CONTINUES.match(line):
            continue
        if (
            starts
            and lines[starts[-1]].startswith("@")
            and all(
                not text.strip() or text.startswith(("@", " ", "\t", "#")) for text in lines[starts[-1] : i]
            )
        ):
            continue  # the decorated definition
        starts.append(i)
    return [(start, end) for start, end in zip(starts, [*starts[1:], len(lines)], strict=True)]


def _recover(lines: list[str], name: str) -> tuple[ast.Module, list[str]]:
    """The top-level statements of ``lines`` that parse on their own, and a note on each left out."""
    body: list[ast.stmt] = []
    broken: list[str] = []
    blocks = _blocks(lines)
    i = 0
    while i < len(blocks):
        start, end = blocks[i]
        try:
            body += _parse_at(lines, start, end, name)
        except SyntaxError as exc:
            # A statement split in two by a line at column 0 (a docstring's, say) parses whole.
            if i + 1 < len(blocks):
                try:
                    body += _parse_at(lines, start, blocks[i + 1][1], name)
                    i += 2
                    continue
                except SyntaxError:
                    pass
            header = lines[start].strip()
            end = max(i + 1 for i in range(start, end) if lines[i].strip())
            what = re.match(r"(?:async\s+)?(def|class)\s+(\w+)", header)
            left_out = f"{what.group(1)} {what.group(2)}" if what else f"`{header}`"
            broken.append(
                f"{name}: {_syntax(exc)}; left out {left_out} (lines {start + 1}-{end}), which counts as "
                "not implemented; the rest of the file is graded"
            )
        i += 1
    return ast.Module(body=body, type_ignores=[]), broken


def _parse_at(lines: list[str], start: int, end: int, name: str) -> list[ast.stmt]:
    """Lines ``start:end`` parsed with their own line numbers."""
    return ast.parse("\n" * start + "".join(lines[start:end]), filename=name).body


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)


# Definitions inside a top-level `if`/`try` (a guarded import's fallback implementation) count as
# definitions: the session plans them from the source, so the worker must load them.
SETUP = (
    ast.Import,
    ast.ImportFrom,
    ast.Pass,
    ast.Assign,
    ast.AnnAssign,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)


def _is_setup_block(node: ast.stmt) -> bool:
    """``try: import cupy as xp / except ImportError: import numpy as xp``, or an ``if`` choosing a
    backend: a block of imports and assignments only (no call statement, not the main guard)."""
    if not isinstance(node, (ast.Try, ast.If)) or _is_main_guard(node):
        return False
    blocks = [node.body, node.orelse]
    if isinstance(node, ast.Try):
        blocks += [node.finalbody, *(handler.body for handler in node.handlers)]
    return all(
        isinstance(statement, SETUP) or _is_setup_block(statement) for block in blocks for statement in block
    )


def _reads(nodes) -> set[str]:
    """The global names ``nodes`` read: a function's free names, not its locals or parameters (a
    test cell's ``Z = conv_forward(...)`` must not be kept because conv_forward has a local Z)."""
    names: set[str] = set()

    def visit(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table.get_type() == "module" or symbol.is_global()):
                names.add(symbol.get_name())
        for child in table.get_children():
            visit(child)

    for node in nodes:
        visit(symtable.symtable(ast.unparse(node), "<definition>", "exec"))
    return names


def _assigned(node: ast.stmt) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _guarded_import(node: ast.stmt) -> ast.stmt:
    """``try: <import> except Exception as e: __gradproof_failed_imports__.append(...)``"""
    text = ast.unparse(node)
    handler = ast.parse(
        f"try:\n    pass\nexcept Exception as _gradproof_error:\n"
        f"    __gradproof_failed_imports__.append(({node.lineno}, {text!r}, "
        f"f'{{type(_gradproof_error).__name__}}: {{_gradproof_error}}'))\n"
    ).body[0]
    handler.body = [node]
    return ast.copy_location(handler, node)


def definitions_only(tree: ast.Module) -> tuple[ast.Module, list[ast.stmt]]:
    """``tree`` keeping definitions, guarded imports and the assignments definitions read; and the
    top-level statements it drops."""
    body = tree.body
    keep = [False] * len(body)
    for i, node in enumerate(body):
        # A string or constant alone does nothing: a docstring, also one after the imports (cs231n's
        # optim.py has its module docstring below `import numpy as np`).
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if docstring or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            keep[i] = True
        elif isinstance(node, (ast.Import, ast.ImportFrom)) or _is_setup_block(node):
            keep[i] = True
    needed = _reads(node for node, kept in zip(body, keep, strict=True) if kept)
    changed = True
    while changed:  # an assignment a definition reads, and the ones that one reads
        changed = False
        for i, node in enumerate(body):
            if not keep[i] and isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                if _assigned(node) & needed:
                    keep[i], changed = True, True
                    needed |= _reads([node])
    new_body, skipped = [], []
    for node, kept in zip(body, keep, strict=True):
        if not kept:
            skipped.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and not (
            isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ):
            new_body.append(_guarded_import(node))
        else:
            new_body.append(node)
    return ast.fix_missing_locations(ast.Module(body=new_body, type_ignores=[])), skipped


def _describe_skipped(name: str, source: str, skipped: list[ast.stmt], magics: list[int], cells) -> list[str]:
    notes = []
    if skipped:
        lines = source.splitlines()
        shown = []
        for node in skipped[:SHOWN]:
            text = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
            shown.append(f"{_where(node.lineno, cells)} `{text[:60]}`")
        more = f" and {len(skipped) - SHOWN} more" if len(skipped) > SHOWN else ""
        notes.append(
            f"{name}: loaded its definitions only; {len(skipped)} top-level statement(s) never ran: "
            + ", ".join(shown)
            + more
        )
    if magics:
        where = ", ".join(_where(n, cells) for n in magics[:SHOWN])
        notes.append(f"{name}: IPython magics and shell lines ignored ({where})")
    return notes


PYTHON2_METHODS = frozenset({"iteritems", "itervalues", "iterkeys", "has_key"})


def _python2_names(tree: ast.Module, name: str, cells) -> list[str]:
    """A note naming a file written for Python 2 that still parses as Python 3 (``xrange``,
    ``d.iteritems()``): wherever it fails, even before reaching those names, that is why."""
    # A name the file binds itself (`from functools import reduce`, a parameter `long`) is its own.
    bound: set[str] = set()
    loaded: list[tuple[int, str]] = []
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.append((node.lineno, node.id))
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Attribute) and node.attr in PYTHON2_METHODS:
            found.append((node.lineno, f".{node.attr}()"))
    found += [(line, name) for line, name in loaded if name in PYTHON2_NAMES - bound]
    if not found:
        return []
    line, what = min(found)
    return [
        f"{name}: written for Python 2 (`{what}` at {_where(line, cells)}): gradproof grades Python 3, so "
        "its functions may fail there, also before they reach it (in Python 3, `/` divides to a float, "
        "which cannot index an array: `//` divides to an int)"
    ]


def exec_definitions(module: types.ModuleType, path: Path, notes: list[str]) -> None:
    """Run ``path``'s definitions in ``module``, adding what was skipped or failed to ``notes``."""
    source, cells = read_source(path)
    tree, magics, broken = parse(source, path.name)
    notes += broken
    notes += _python2_names(tree, path.name, cells)
    tree, skipped = definitions_only(tree)
    notes += _describe_skipped(path.name, source, skipped, magics, cells)
    module.__file__ = str(path)
    failed: list = []
    module.__gradproof_failed_imports__ = failed
    exec(compile(tree, str(path), "exec"), module.__dict__)
    for line, text, error in failed:
        where = _where(line, cells)
        notes.append(f"{path.name}: `{text}` at {where} failed ({error}); what needs it will fail")
    del module.__gradproof_failed_imports__


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Bare-name imports of the candidate's sibling files (``from zero_pad import zero_pad``) load
    them the same way: definitions only."""

    def __init__(self, directory: Path, notes: list[str]) -> None:
        self.directory, self.notes = directory, notes

    def find_spec(self, fullname, path=None, target=None):
        if "." in fullname:
            return None
        for suffix in (".py", ".ipynb"):
            candidate = self.directory / f"{fullname}{suffix}"
            if candidate.is_file():
                return importlib.util.spec_from_loader(fullname, self, origin=str(candidate))
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec_definitions(module, Path(module.__spec__.origin), self.notes)


def safe_name(text: str) -> str:
    """``text`` as an identifier: ``2-conv_backward`` -> ``c_2_conv_backward``. Candidates' names
    (test ids) and the private module names of files that cannot be imported by their own."""
    name = re.sub(r"\W", "_", text).strip("_") or "candidate"
    return name if not name[0].isdigit() else f"c_{name}"


def source_files(directory: Path) -> list[Path]:
    """The files a folder candidate is made of: its ``.py`` and ``.ipynb`` files, not tests."""
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in (".py", ".ipynb")
        and path.is_file()
        and not path.name.startswith(("test_", "_", "."))
        and not path.stem.endswith("_test")
    )


def load_path(target: Path, module_name: str) -> tuple[types.ModuleType, list[str]]:
    """A file or folder candidate as one module, and the notes on how it was loaded.

    A folder's files are loaded in name order into one namespace (a later definition of a name
    wins); each also stays importable by its bare name, for the others.
    """
    notes: list[str] = []
    directory = target if target.is_dir() else target.parent
    sys.path.insert(0, str(directory))
    sys.meta_path.insert(0, _Finder(directory, notes))
    files = source_files(target) if target.is_dir() else [target]
    if not files:
        raise LoadError(f"cannot load {target}: the folder has no .py or .ipynb files")
    combined = types.ModuleType(module_name)
    combined.__file__ = str(target)
    defined: set[str] = set()
    for path in files:
        path = path.resolve()
        module = sys.modules.get(path.stem)
        if module is None or os.path.abspath(getattr(module, "__file__", None) or "") != str(path):
            # Its bare name, for the siblings that import it, unless that name is taken (a file
            # called numpy.py) or is no identifier (2-conv_backward.py): then a private one.
            free = path.stem.isidentifier() and path.stem not in sys.modules
            name = path.stem if free else f"gradproof_file_{safe_name(path.stem)}"
            module = types.ModuleType(name)
            sys.modules[name] = module
            exec_definitions(module, path, notes)
        name = module.__name__
        for key, value in vars(module).items():
            if callable(value) and getattr(value, "__module__", None) == name:
                setattr(combined, key, value)
                defined.add(key)
            elif not key.startswith("__") and not hasattr(combined, key):
                setattr(combined, key, value)
    combined.__gradproof_defined__ = frozenset(defined)
    sys.modules[module_name] = combined
    return combined, notes


def python2_hint(exc: BaseException) -> str:
    """A note for a NameError on a Python 2 builtin (``xrange``): the file is Python 2."""
    if isinstance(exc, NameError) and getattr(exc, "name", None) in PYTHON2_NAMES:
        return f" ({exc.name} is Python 2: this code is Python 2, gradproof grades Python 3)"
    return ""


NUMPY2_SCALAR = "only 0-dimensional arrays can be converted to Python scalars"


def numpy2_hint(exc: BaseException) -> str:
    """A note for NumPy 2's refusal to turn an array with dimensions into a Python number.

    Older course templates do it: the Coursera notebook of 2018 ends ``conv_single_step`` with
    ``Z = Z + float(b)``, b of shape (1, 1, 1). NumPy deprecated it in 1.25 and raises since 2.x,
    so a solution correct when it was written fails now; gradproof says so rather than altering
    NumPy in the student's process.
    """
    if isinstance(exc, TypeError) and NUMPY2_SCALAR in str(exc):
        import numpy as np

        return (
            f" (fails on this NumPy only: NumPy {np.__version__} no longer converts an array with "
            "dimensions to a number, which NumPy 1 did, as in the Coursera notebook's `float(b)` on a "
            "(1, 1, 1) b; `float(x.item())` works in both. To grade the code as it ran, use "
            "--numpy 1.26.4 (installed once by `gradproof numpy-env 1.26.4`))"
        )
    return ""


def hint(exc: BaseException) -> str:
    """What a candidate's exception says about the code's age: Python 2, or NumPy 1."""
    return python2_hint(exc) or numpy2_hint(exc)
