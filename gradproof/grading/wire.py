"""The message format between the grading process and a candidate's worker process.

A message is a JSON header followed by the arrays it refers to, each as its raw bytes, with its
dtype and shape in the header (``"arrays": [[dtype, shape], ...]``). Only plain dtypes are read
back (numbers, booleans, strings: never objects), with ``np.frombuffer``: nothing the worker sends
can run code in the grading process. (``.npy`` would do the same, at twenty times the cost of
parsing its header for each of the hundred thousand small arrays a grade sends.)

Values travel as JSON, with these tagged forms::

    {"$a": i}          the i-th array of the message
    {"$s": i}          a NumPy scalar, sent as the i-th (0-d) array
    {"$t": [...]}      a tuple
    {"$d": {...}}      a dict with str keys
    {"$h": id, "type": name}
                       an object the worker keeps (a cache): it is sent back by id, never copied
    {"$bad": text}     a value that cannot travel (an object array): it stays a description
    {"$f": name}       a NumPy ufunc (``np.tanh``), an activation passed as an argument

Framing: 4-byte big-endian header length, the header, then for each array an 8-byte length and its
bytes (C order).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Handle:
    """An object that lives in the worker, such as the cache a forward returned."""

    id: int
    type: str

    def __repr__(self) -> str:
        return f"<{self.type} kept in the candidate's process>"


@dataclass(frozen=True)
class Unsendable:
    """A value the worker could not send, described."""

    description: str

    def __repr__(self) -> str:
        return self.description


def encode(value, arrays: list, keep=None):
    """``value`` as JSON-able data, appending its arrays to ``arrays``; ``keep(obj)`` turns any other
    object into a handle (in the worker), or raises TypeError (in the grading process)."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {"$bad": f"an ndarray of dtype object, shape {value.shape}"}
        arrays.append(value)
        return {"$a": len(arrays) - 1}
    if isinstance(value, np.generic):
        if isinstance(value, np.object_):
            return {"$bad": "a NumPy object scalar"}
        arrays.append(np.asarray(value))
        return {"$s": len(arrays) - 1}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ufunc):
        return {"$f": value.__name__}
    if isinstance(value, Handle):
        return {"$h": value.id, "type": value.type}
    if isinstance(value, tuple):
        return {"$t": [encode(item, arrays, keep) for item in value]}
    if isinstance(value, list):
        return [encode(item, arrays, keep) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"$d": {key: encode(item, arrays, keep) for key, item in value.items()}}
    if keep is None:
        raise TypeError(f"cannot send a {type(value).__name__}")
    return keep(value)


def decode(data, arrays: list, resolve=None):
    """The inverse of :func:`encode`; ``resolve(id)`` gives back a kept object (in the worker)."""
    if isinstance(data, list):
        return [decode(item, arrays, resolve) for item in data]
    if not isinstance(data, dict):
        return data
    if "$a" in data:
        return arrays[data["$a"]]
    if "$s" in data:
        return arrays[data["$s"]][()]
    if "$t" in data:
        return tuple(decode(item, arrays, resolve) for item in data["$t"])
    if "$d" in data:
        return {key: decode(item, arrays, resolve) for key, item in data["$d"].items()}
    if "$h" in data:
        return resolve(data["$h"]) if resolve else Handle(data["$h"], data["type"])
    if "$bad" in data:
        return Unsendable(data["$bad"])
    if "$f" in data:
        function = getattr(np, data["$f"], None)
        if not isinstance(function, np.ufunc):
            raise ValueError(f"not a NumPy ufunc: {data['$f']!r}")
        return function
    raise ValueError(f"unknown tagged value {data!r}")


def encode_calls(calls, arrays: list) -> list[dict]:
    """Calls (objects with ``fn``, ``args``, ``kwargs``, ``store`` and ``return_args``, as
    :class:`gradproof.grading.calls.Call`) as a request's ``"calls"``, their arrays appended to
    ``arrays``."""
    return [
        {
            "fn": call.fn,
            "args": encode(list(call.args), arrays),
            "kwargs": encode(dict(call.kwargs), arrays),
            "store": list(call.store),
            "return_args": bool(call.return_args),
        }
        for call in calls
    ]


PLAIN_KINDS = "biufcSU?"
"""The dtype kinds read back: numbers, booleans and strings (no objects, no structured records)."""


def pack(header: dict, arrays: list) -> bytes:
    # (Not np.ascontiguousarray: it makes a 0-d array 1-d.)
    arrays = [np.asarray(array, order="C") for array in arrays]
    header = {**header, "arrays": [[array.dtype.str, list(array.shape)] for array in arrays]}
    chunks = []
    text = json.dumps(header).encode()
    chunks.append(struct.pack(">I", len(text)))
    chunks.append(text)
    for array in arrays:
        data = array.tobytes()
        chunks.append(struct.pack(">Q", len(data)))
        chunks.append(data)
    return b"".join(chunks)


def _layout(entry) -> tuple[np.dtype, tuple[int, ...]]:
    """An array's dtype and shape from the header, checked: a plain dtype, a shape of naturals."""
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
        raise ValueError(f"an array described as {entry!r}")
    descr, shape = entry
    try:
        dtype = np.dtype(descr)
    except TypeError as exc:
        raise ValueError(f"an array of dtype {descr!r}") from exc
    if dtype.kind not in PLAIN_KINDS or dtype.hasobject or dtype.fields is not None:
        raise ValueError(f"an array of dtype {descr!r}")
    if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise ValueError(f"an array of shape {shape!r}")
    return dtype, tuple(shape)


def unpack_arrays(read, layouts: list, limit: int | None = None) -> list:
    """Read the arrays ``layouts`` (the header's ``"arrays"``) describe, with ``read(size) -> bytes``,
    together at most ``limit`` bytes."""
    arrays, total = [], 0
    for entry in layouts:
        dtype, shape = _layout(entry)
        (size,) = struct.unpack(">Q", read(8))
        total += size
        if limit is not None and total > limit:
            raise ValueError(f"a message of more than {limit} bytes of arrays")
        if size != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{size} bytes for an array of dtype {dtype.str} and shape {shape}")
        arrays.append(np.frombuffer(bytearray(read(size)), dtype=dtype).reshape(shape))
    return arrays


def write_message(stream, header: dict, arrays: list) -> None:
    stream.write(pack({**header, "n_arrays": len(arrays)}, arrays))
    stream.flush()


def read_message(read, limit: int | None = None) -> tuple[dict, list]:
    """One message, with ``read(size) -> bytes`` returning exactly ``size`` bytes or raising EOFError;
    with ``limit``, a ValueError for a header or arrays of more bytes than that, before they are read
    (the grading process reads what a candidate's process sends)."""
    (size,) = struct.unpack(">I", read(4))
    if limit is not None and size > limit:
        raise ValueError(f"a header of {size} bytes, more than {limit}")
    header = json.loads(read(size))
    if not isinstance(header, dict):
        raise ValueError(f"a header that is a {type(header).__name__}, not an object")
    layouts = header.get("arrays", [])
    if not isinstance(layouts, list) or header.get("n_arrays", 0) != len(layouts):
        raise ValueError(f"a header with n_arrays {header.get('n_arrays')!r} and arrays {layouts!r:.200}")
    return header, unpack_arrays(read, layouts, limit)
