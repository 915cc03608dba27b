"""Candidates: the implementations to grade, as a user names them (a file, a notebook, a folder of
them, an importable module), and what their source declares, read without running it."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from gradproof.grading import loader
from gradproof.grading.loader import safe_name

ENTRY_POINT_GROUP = "gradproof.candidates"


@dataclass(frozen=True)
class Candidate:
    """A file or notebook (``kind="path"``), a folder of files (``kind="folder"``), or an importable
    module (``kind="module"``) to grade."""

    name: str
    kind: str
    target: str

    def __str__(self) -> str:
        return self.target


def from_spec(text: str) -> Candidate:
    """A candidate from what a user typed: a path to a ``.py`` or ``.ipynb`` file or to a folder of
    them, or a dotted module name."""
    path = Path(text)
    if path.is_dir():
        return Candidate(name=safe_name(path.resolve().name), kind="folder", target=str(path.resolve()))
    if text.endswith((".py", ".ipynb")) or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"candidate {text}: no such file or folder")
        return Candidate(name=safe_name(path.stem), kind="path", target=str(path.resolve()))
    return Candidate(name=safe_name(text.rpartition(".")[2]), kind="module", target=text)


def load_in_process(candidate: Candidate):
    """Import ``candidate`` into this process, as its worker would (a file's directory goes on the
    import path). For benchmarks only, where a worker's round trips would be timed too: a candidate
    loaded this way can do anything to the process, so grading never does this."""
    from gradproof.grading import worker

    module, _ = worker.load(
        {
            "kind": candidate.kind,
            "target": candidate.target,
            "module_name": f"gradproof_candidate_{candidate.name}",
        }
    )
    return module


def discover(directory: Path) -> list[Candidate]:
    """Every ``.py`` file of ``directory`` not starting with ``_``, and every installed candidate."""
    found = []
    if directory.is_dir():
        found += [
            from_spec(str(path)) for path in sorted(directory.glob("*.py")) if not path.name.startswith("_")
        ]
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.append(Candidate(name=safe_name(entry_point.name), kind="module", target=entry_point.value))
    return unique_names(found)


def unique_names(candidates: list[Candidate]) -> list[Candidate]:
    """The same candidates, a suffix added to repeated names so that test ids stay distinct."""
    seen: dict[str, int] = {}
    result = []
    for candidate in candidates:
        count = seen.get(candidate.name, 0)
        seen[candidate.name] = count + 1
        if count:
            candidate = Candidate(f"{candidate.name}_{count + 1}", candidate.kind, candidate.target)
        result.append(candidate)
    return result


@dataclass(frozen=True)
class Declared:
    """What a candidate's source defines, read without running it: enough to choose its API and
    the units it is graded on before any of its code runs (``pytest --collect-only`` runs none)."""

    names: frozenset[str] = frozenset()
    """Functions and classes its own code defines (not those it imports)."""
    params: dict[str, int] = field(default_factory=dict)
    """Function name -> its number of parameters: two APIs may share a name (``conv_forward``)."""
    placeholders: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Function name -> the positions of its returned values that it never computes: names bound
    only to a template's placeholder (``dw = np.zeros_like(w)``, ``out = None``) and never written
    to, passed on, or changed after."""


ZEROS = ("zeros", "zeros_like", "empty", "empty_like")


def _placeholder(node: ast.expr | None) -> bool:
    """A template's placeholder value: None, or NumPy's zeros."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return True
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        return name in ZEROS
    return False


def _writes(function) -> dict[str, bool]:
    """Each name of ``function`` -> whether every write to it binds a placeholder (False once the
    name is computed, changed in place, looped over, or passed to a call, which may fill it)."""
    only: dict[str, bool] = {}

    def write(target: ast.expr, value: ast.expr | None, placeholder: bool) -> None:
        if isinstance(target, ast.Name):
            only[target.id] = only.get(target.id, True) and placeholder and _placeholder(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            # `dx, dw = None, None` binds placeholders; `dx, dw = grads(...)` computes both.
            pairs = isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
            for k, element in enumerate(target.elts):
                write(element, value.elts[k] if pairs else None, placeholder and pairs)
        elif isinstance(target, (ast.Subscript, ast.Attribute, ast.Starred)):
            write(target.value, None, False)

    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                write(target, node.value, True)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            write(node.target, node.value, isinstance(node, ast.AnnAssign))
        elif isinstance(node, (ast.For, ast.comprehension, ast.withitem)):
            write(getattr(node, "target", None) or getattr(node, "optional_vars", None), None, False)
        elif isinstance(node, ast.Call) and not _placeholder(node):
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                write(argument, None, False)
    return only


def placeholder_returns(function) -> tuple[int, ...]:
    """The positions of ``function``'s returned values (of its last top-level ``return``) that it
    never computes."""
    returns = [node for node in function.body if isinstance(node, ast.Return)]
    if not returns:
        return ()
    value = returns[-1].value
    values = value.elts if isinstance(value, ast.Tuple) else [value]
    only = _writes(function)
    return tuple(
        i
        for i, v in enumerate(values)
        if (isinstance(v, ast.Name) and only.get(v.id, False)) or (v is not None and _placeholder(v))
    )


def _top_level(body):
    """Definitions at the top level, also inside top-level ``if`` and ``try`` blocks."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node
        elif isinstance(node, ast.If):
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + node.orelse + node.finalbody)


def _count(arguments: ast.arguments) -> int:
    return (
        len(arguments.posonlyargs)
        + len(arguments.args)
        + len(arguments.kwonlyargs)
        + (arguments.vararg is not None)
        + (arguments.kwarg is not None)
    )


def _declared_in(path: Path, names: set, params: dict, placeholders: dict) -> None:
    try:
        source, _ = loader.read_source(path)
        tree, _, _ = loader.parse(source, path.name)
    except (OSError, ValueError, loader.LoadError):
        return  # the import check in the worker says why
    for node in _top_level(tree.body):
        names.add(node.name)
        if not isinstance(node, ast.ClassDef):
            params[node.name] = _count(node.args)
            placeholders[node.name] = placeholder_returns(node)  # a later definition wins


def declared(candidate: Candidate) -> Declared:
    """The functions ``candidate``'s source defines, parsed, never run. A module is read from its
    source file (found without importing it, its parent packages aside)."""
    names: set[str] = set()
    params: dict[str, int] = {}
    placeholders: dict[str, tuple[int, ...]] = {}
    if candidate.kind == "folder":
        files = loader.source_files(Path(candidate.target))
    elif candidate.kind == "path":
        files = [Path(candidate.target)]
    else:
        try:
            spec = importlib.util.find_spec(candidate.target)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None)
        files = [Path(origin)] if origin and origin.endswith(".py") else []
    for path in files:
        _declared_in(path, names, params, placeholders)
    return Declared(frozenset(names), params, {k: v for k, v in placeholders.items() if v})
