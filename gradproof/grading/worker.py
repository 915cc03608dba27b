"""The process a candidate runs in: ``python -m gradproof.grading.worker``.

It imports the candidate, then evaluates the calls the grading process sends and sends back their
results (see :mod:`gradproof.grading.wire`). It never computes a verdict: whatever the candidate does here
(exit, patch NumPy, print) touches this process only.

Before the candidate is imported, the protocol's pipes are moved to private descriptors, and the
standard output is pointed at the standard error, so that anything the candidate prints lands in
the worker's log instead of the protocol or the grading terminal.
"""

from __future__ import annotations

import errno
import importlib
import importlib.abc
import importlib.util
import inspect
import os
import resource
import sys
import traceback

# Only the standard library and NumPy before the candidate loads: the less is imported here, the
# less the candidate can reach.
from pathlib import Path

from gradproof.grading import loader, wire

TRACEBACK_LINES = 12


def _reader(fd: int):
    stream = os.fdopen(fd, "rb", buffering=0)

    def read(size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = stream.read(left)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    return read


def describe_exception(exc: BaseException) -> str:
    """One line for the failed check, then the end of the traceback."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, loader.LoadError):
        return str(exc)
    # The worker's own frame (the line that called the candidate) says nothing to the student.
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    lines = traceback.format_exception(type(exc), exc, tb)
    tail = "".join(lines).rstrip().splitlines()[-TRACEBACK_LINES:]
    first = f"raised {type(exc).__name__}: {exc}".splitlines()[0] + loader.hint(exc) + limit_hint(exc)
    return first + "\n" + "\n".join(tail)


LIMITED = {
    errno.EFBIG: (resource.RLIMIT_FSIZE, "files of at most {}"),
    errno.EMFILE: (resource.RLIMIT_NOFILE, "at most {} open files"),
    errno.EAGAIN: (getattr(resource, "RLIMIT_NPROC", None), "at most {} processes"),
}


def limit_hint(exc: BaseException) -> str:
    """Which of the worker's resource limits an exception hit, where it hit one."""
    if isinstance(exc, MemoryError):
        which, text = resource.RLIMIT_AS, "{} of memory (address space)"
    elif isinstance(exc, OSError) and exc.errno in LIMITED:
        which, text = LIMITED[exc.errno]
    else:
        return ""
    if which is None:
        return ""
    soft, _ = resource.getrlimit(which)
    if soft == resource.RLIM_INFINITY:
        return ""
    amount = (
        soft if which in (resource.RLIMIT_NOFILE, getattr(resource, "RLIMIT_NPROC", None)) else _size(soft)
    )
    return f" (the grader's limit: {text.format(amount)})"


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    return str(n)


class _Refuse(importlib.abc.MetaPathFinder):
    """Refuses the imports an assignment forbids (:data:`gradproof.grading.process.REFUSED`)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.names:
            raise ImportError(
                f"import of {top} refused: this assignment is graded on NumPy alone (the grader's "
                "own modules and other autograd libraries are not available to it)",
                name=fullname,
            )
        return None


def load(target: dict):
    """The candidate as a module, and notes on how it was loaded (what was skipped, for the report).

    A file, a notebook or a folder runs its definitions only (:mod:`gradproof.grading.loader`); a module
    name is imported as it is (an installed package is code its owner chose to install).
    """
    kind, where = target["kind"], target["target"]
    if target.get("refuse"):
        sys.meta_path.insert(0, _Refuse(frozenset(target["refuse"])))
    if kind in ("path", "folder"):
        return loader.load_path(Path(where), target["module_name"])
    return importlib.import_module(where), []


def defined_names(module) -> frozenset[str]:
    """The callables ``module``'s own code defines, not those it imports: what tells its API."""
    if hasattr(module, "__gradproof_defined__"):  # a file or folder, loaded by gradproof.grading.loader
        return module.__gradproof_defined__
    return frozenset(
        name
        for name, value in vars(module).items()
        if callable(value) and getattr(value, "__module__", None) == module.__name__
    )


def parameter_counts(module, names) -> dict[str, int]:
    """How many parameters each function takes, where Python can tell: two APIs may share a name
    (``conv_forward``) and differ in their signatures."""
    counts = {}
    for name in names:
        try:
            counts[name] = len(inspect.signature(getattr(module, name)).parameters)
        except (TypeError, ValueError):
            continue
    return counts


class Evaluator:
    """Evaluates the calls the grading process sends, on the loaded candidate; keeps the objects
    (caches) it must not send back, and sends their handles instead."""

    def __init__(self, module) -> None:
        self.module = module
        self.kept: dict[int, object] = {}
        self.inputs: dict[int, list] = {}
        """Handle -> the arguments of the call that made it: what a backward taking that cache can
        reach (a forward's inputs it kept), sent back after it to show what it changed."""
        self.next_id = 0

    def clear(self) -> None:
        self.kept.clear()
        self.inputs.clear()

    def keep(self, value) -> wire.Handle:
        """Keep ``value`` here; the grading process gets its handle."""
        self.next_id += 1
        self.kept[self.next_id] = value
        return wire.Handle(self.next_id, type(value).__name__)

    def encode(self, value, arrays: list):
        return wire.encode(value, arrays, lambda other: wire.encode(self.keep(other), arrays))

    def resolve(self, id: int):
        return self.kept[id]

    def call(self, request: dict, arrays: list, out_arrays: list) -> dict:
        name = request["fn"]
        function = getattr(self.module, name, None)
        if not callable(function):
            return {"ok": False, "error": f"does not define {name}"}
        args = wire.decode(request["args"], arrays, self.resolve)
        kwargs = wire.decode(request.get("kwargs", {"$d": {}}), arrays, self.resolve)
        try:
            value = function(*args, **kwargs)
        except BaseException as exc:
            return {"ok": False, "error": describe_exception(exc)}
        store = request.get("store") or []
        if store and isinstance(value, tuple):
            first = self.next_id + 1
            value = tuple(self.keep(item) if index in store else item for index, item in enumerate(value))
            for id in range(first, self.next_id + 1):
                self.inputs[id] = args
        reply = {"ok": True, "value": self.encode(value, out_arrays)}
        if request.get("return_args"):
            reply["args"] = self.encode(list(args), out_arrays)
            reached = {id: self.inputs[id] for id in _handles(request["args"]) if id in self.inputs}
            if reached:
                reply["kept"] = self.encode({str(id): list(a) for id, a in reached.items()}, out_arrays)
        return reply


def _handles(data) -> list[int]:
    """The handles (``{"$h": id}``) an encoded value refers to."""
    if isinstance(data, dict):
        if "$h" in data:
            return [data["$h"]]
        return [id for value in data.values() for id in _handles(value)]
    if isinstance(data, list):
        return [id for value in data for id in _handles(value)]
    return []


def cpu_seconds() -> float:
    """CPU seconds this process and the children it reaped have used: sent with every reply, so
    that the grading process counts a call's CPU time from there (its timeout)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    # The protocol's pipes, moved out of the candidate's way.
    read = _reader(os.dup(0))
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1)

    header, _ = wire.read_message(read)
    try:
        module, notes = load(header["load"])
    except BaseException as exc:
        wire.write_message(out, {"ok": False, "error": describe_exception(exc)}, [])
        return
    # What the candidate defines was read from its source by the grading process: only how the
    # loading went comes back.
    wire.write_message(out, {"ok": True, "notes": notes, "cpu": cpu_seconds()}, [])
    evaluator = Evaluator(module)
    while True:
        try:
            header, arrays = wire.read_message(read)
        except EOFError:
            return
        if header.get("reset"):
            evaluator.clear()
        out_arrays: list = []
        replies = [evaluator.call(request, arrays, out_arrays) for request in header.get("calls", [])]
        wire.write_message(out, {"replies": replies, "cpu": cpu_seconds()}, out_arrays)


if __name__ == "__main__":
    main()
