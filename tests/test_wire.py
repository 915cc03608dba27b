"""The message format between the grading process and a worker, in this process: every tagged form
round-trips, framing survives an in-memory pipe, and nothing that needs pickle can be read back."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from gradproof.grading import wire


def round_trip(value, keep=None, resolve=None):
    """``value`` encoded, sent through the JSON header and the arrays' framing, and decoded."""
    arrays: list = []
    data = wire.encode(value, arrays, keep)
    header, received = wire.read_message(reader(wire.pack({"value": data, "n_arrays": len(arrays)}, arrays)))
    return data, wire.decode(header["value"], received, resolve)


def reader(payload: bytes):
    """``read(size)`` over ``payload`` that returns exactly ``size`` bytes or raises EOFError, as the
    worker's pipe reader does."""
    stream = io.BytesIO(payload)

    def read(size: int) -> bytes:
        chunk = stream.read(size)
        if len(chunk) != size:
            raise EOFError
        return chunk

    return read


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6.0).reshape(2, 3),
        np.array(3.5),  # 0-d: stays an array, not a scalar
        np.arange(4, dtype=np.float32),
        np.arange(5, dtype=np.int64).reshape(5, 1),
        np.array([True, False]),
        np.zeros((0, 3)),
    ],
    ids=["float64", "0-d", "float32", "int64", "bool", "empty"],
)
def test_arrays_round_trip_with_shape_and_dtype(array):
    data, back = round_trip(array)
    assert data == {"$a": 0}
    assert isinstance(back, np.ndarray)
    assert back.shape == array.shape
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("scalar", [np.float64(1.25), np.float32(-2.5), np.int64(7), np.bool_(True)])
def test_numpy_scalars_come_back_as_numpy_scalars_of_their_dtype(scalar):
    data, back = round_trip(scalar)
    assert data == {"$s": 0}
    assert isinstance(back, np.generic)
    assert not isinstance(back, np.ndarray)
    assert back.dtype == scalar.dtype
    assert back == scalar


def test_plain_values_travel_as_json():
    for value in (None, True, 3, -1.5, "text"):
        data, back = round_trip(value)
        assert data == value
        assert back == value
        assert type(back) is type(value)


def test_tuples_lists_and_dicts_nest_and_keep_their_types():
    x, w = np.ones((2, 2)), np.arange(3.0)
    value = {"pair": (x, 2), "list": [w, "a", (None,)], "inner": {"t": np.float32(0.5)}}
    data, back = round_trip(value)
    assert data == {
        "$d": {
            "pair": {"$t": [{"$a": 0}, 2]},
            "list": [{"$a": 1}, "a", {"$t": [None]}],
            "inner": {"$d": {"t": {"$s": 2}}},
        }
    }
    assert isinstance(back, dict)
    assert isinstance(back["pair"], tuple)
    assert isinstance(back["list"], list)
    assert isinstance(back["list"][2], tuple)
    np.testing.assert_array_equal(back["pair"][0], x)
    np.testing.assert_array_equal(back["list"][0], w)
    assert back["inner"]["t"].dtype == np.float32


def test_a_dict_with_non_string_keys_cannot_be_sent_without_keep():
    with pytest.raises(TypeError, match="cannot send a dict"):
        wire.encode({1: "a"}, [])


def test_other_objects_are_refused_in_the_grading_process_and_kept_in_the_worker():
    cache = object()
    with pytest.raises(TypeError, match="cannot send a object"):
        wire.encode(cache, [])
    kept = {}

    def keep(value):
        kept[7] = value
        return wire.encode(wire.Handle(7, type(value).__name__), [])

    data, back = round_trip((np.zeros(2), cache), keep=keep)
    assert data == {"$t": [{"$a": 0}, {"$h": 7, "type": "object"}]}
    # The grading side sees a handle, never the object itself ...
    assert back[1] == wire.Handle(7, "object")
    assert repr(back[1]) == "<object kept in the candidate's process>"
    # ... and the worker, given the handle back, resolves it to the object it kept.
    sent: list = []
    assert wire.decode(wire.encode(back[1], sent), sent, kept.__getitem__) is cache


def test_object_arrays_and_scalars_stay_descriptions():
    data, back = round_trip(np.array([1, "a"], dtype=object))
    assert data == {"$bad": "an ndarray of dtype object, shape (2,)"}
    assert isinstance(back, wire.Unsendable)
    assert repr(back) == "an ndarray of dtype object, shape (2,)"
    # Inside a returned tuple too: the rest of the value still travels.
    data, back = round_trip((np.zeros(2), np.array([None], dtype=object)))
    assert isinstance(back[1], wire.Unsendable)
    np.testing.assert_array_equal(back[0], np.zeros(2))


def test_ufuncs_travel_by_name_and_other_names_are_refused():
    data, back = round_trip([np.tanh, np.maximum])
    assert data == [{"$f": "tanh"}, {"$f": "maximum"}]
    assert back == [np.tanh, np.maximum]
    for name in ("load", "save", "no_such_function", "__import__"):
        with pytest.raises(ValueError, match="not a NumPy ufunc"):
            wire.decode({"$f": name}, [])


def test_an_unknown_tag_is_an_error():
    with pytest.raises(ValueError, match="unknown tagged value"):
        wire.decode({"$zzz": 1}, [])
    with pytest.raises(ValueError, match="unknown tagged value"):
        wire.decode({"plain": "dict"}, [])


def test_framing_carries_several_messages_through_one_stream():
    stream = io.BytesIO()
    wire.write_message(stream, {"calls": [1]}, [np.arange(3.0)])
    wire.write_message(stream, {"calls": []}, [])
    wire.write_message(stream, {"last": True}, [np.eye(2), np.array(1, dtype=np.int32)])
    read = reader(stream.getvalue())
    first, arrays = wire.read_message(read)
    assert first == {"calls": [1], "n_arrays": 1, "arrays": [["<f8", [3]]]}
    np.testing.assert_array_equal(arrays[0], np.arange(3.0))
    assert wire.read_message(read) == ({"calls": [], "n_arrays": 0, "arrays": []}, [])
    last, arrays = wire.read_message(read)
    assert last["last"] is True
    assert [a.shape for a in arrays] == [(2, 2), ()]
    assert arrays[1].dtype == np.int32
    with pytest.raises(EOFError):
        wire.read_message(read)


def test_framing_is_big_endian_lengths_then_header_then_raw_bytes():
    payload = wire.pack({"n_arrays": 1}, [np.arange(2.0)])
    (size,) = struct.unpack(">I", payload[:4])
    assert json.loads(payload[4 : 4 + size]) == {"n_arrays": 1, "arrays": [["<f8", [2]]]}
    (array_size,) = struct.unpack(">Q", payload[4 + size : 12 + size])
    assert payload[12 + size :] == np.arange(2.0).tobytes()
    assert array_size == 16


def test_a_truncated_message_is_an_eof():
    payload = wire.pack({"n_arrays": 1}, [np.zeros(4)])
    with pytest.raises(EOFError):
        wire.read_message(reader(payload[:-3]))


def _message(header: dict, *chunks: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack(">I", len(text)) + text + b"".join(struct.pack(">Q", len(c)) + c for c in chunks)


@pytest.mark.parametrize(
    ("layout", "data", "message"),
    [
        # An object array would need pickle (run code) to be read back: refused by its dtype.
        (["|O", [1]], b"\0" * 8, r"an array of dtype '\|O'"),
        ([[["a", "|O"]], [1]], b"\0" * 8, "an array described as"),
        (["V8", [1]], b"\0" * 8, r"an array of dtype 'V8'"),
        (["<f8", [-1]], b"", "an array of shape"),
        (["<f8", [3]], b"\0" * 8, "8 bytes for an array of dtype <f8 and shape \\(3,\\)"),
        (["no such dtype", [1]], b"", "an array of dtype 'no such dtype'"),
    ],
)
def test_only_plain_arrays_of_the_size_they_claim_are_read_back(layout, data, message):
    payload = _message({"n_arrays": 1, "arrays": [layout]}, data)
    with pytest.raises(ValueError, match=message):
        wire.read_message(reader(payload))


def test_a_count_that_disagrees_with_the_layouts_is_refused():
    with pytest.raises(ValueError, match="a header with n_arrays 2"):
        wire.read_message(reader(_message({"n_arrays": 2, "arrays": [["<f8", [1]]]}, b"\0" * 8)))


def test_arrays_read_back_are_writable_copies():
    _, (array,) = wire.read_message(reader(wire.pack({"n_arrays": 1}, [np.arange(3.0)[::-1]])))
    array[0] = 7.0
    np.testing.assert_array_equal(array, [7.0, 1.0, 0.0])


def test_a_reply_larger_than_the_limit_is_refused_before_it_is_read():
    """The grading process reads what a candidate's process sends: a header or arrays past the
    limit, or a header that is no object, are a ValueError (a failed call), never an allocation."""
    data = wire.pack({"n_arrays": 1}, [np.zeros(1000)])
    chunks = io.BytesIO(data)
    with pytest.raises(ValueError, match="more than 100 bytes of arrays"):
        wire.read_message(chunks.read, limit=100)
    chunks = io.BytesIO(wire.pack({"n_arrays": 0, "pad": "x" * 500}, []))
    with pytest.raises(ValueError, match=r"a header of \d+ bytes, more than 100"):
        wire.read_message(chunks.read, limit=100)
    listed = json.dumps([]).encode()
    with pytest.raises(ValueError, match="a header that is a list"):
        wire.read_message(io.BytesIO(struct.pack(">I", len(listed)) + listed).read)
