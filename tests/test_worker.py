"""The worker's evaluator, in this process, on a small module: what a call returns, how a failure is
told, how caches stay behind as handles and come back resolved. Requests travel through the real
framing, encoded as :class:`gradproof.grading.process.Worker` encodes them."""

from __future__ import annotations

import sys
import textwrap
import types

import numpy as np
import pytest

from gradproof.grading import loader, wire, worker
from gradproof.grading.calls import Call
from tests.inprocess import isolated_imports

STUDENT = """
import numpy as np
from numpy import sum as imported_sum

EPS = 1e-8


class Cache:
    def __init__(self, x):
        self.x = x


def relu_forward(x):
    return np.maximum(x, 0.0), (x > 0)


def relu_backward(dout, cache):
    return dout * cache


def object_forward(x):
    return 2 * x, Cache(x)


def object_backward(dout, cache):
    return 2 * dout + 0 * cache.x


def not_done(x):
    raise ValueError("not done yet\\nsecond line")


def quits(x):
    sys.exit(3)


def python2(n):
    return list(xrange(n))


def numpy1(b):
    return float(b)


def running_stats(x, param):
    param["running_mean"] = x.mean(axis=0)
    x += 1.0
    return x.sum(), None


def takes(a, b, /, c, *args, d=1, **kwargs):
    return a
"""


@pytest.fixture
def student() -> types.ModuleType:
    module = types.ModuleType("student")
    module.sys = sys
    exec(compile(textwrap.dedent(STUDENT), "student.py", "exec"), module.__dict__)
    return module


def send(evaluator: worker.Evaluator, *calls: Call) -> list[dict]:
    """``calls`` as one request through the framing, evaluated; the replies, decoded as the grading
    process decodes them (kept objects as handles)."""
    arrays: list = []
    encoded = wire.encode_calls(calls, arrays)
    header, received = _through_pipe({"calls": encoded}, arrays)
    out_arrays: list = []
    replies = [evaluator.call(request, received, out_arrays) for request in header["calls"]]
    header, back = _through_pipe({"replies": replies}, out_arrays)
    decoded = []
    for reply in header["replies"]:
        reply = dict(reply)
        if "value" in reply:
            reply["value"] = wire.decode(reply["value"], back)
        if "args" in reply:
            reply["args"] = wire.decode(reply["args"], back)
        decoded.append(reply)
    return decoded


def _through_pipe(header: dict, arrays: list):
    payload = wire.pack({**header, "n_arrays": len(arrays)}, arrays)
    position = 0

    def read(size: int) -> bytes:
        nonlocal position
        chunk = payload[position : position + size]
        position += size
        return chunk

    return wire.read_message(read)


def test_a_call_returns_its_value(student):
    x = np.array([-1.0, 2.0, -3.0, 4.0])
    (reply,) = send(worker.Evaluator(student), Call("relu_forward", (x,)))
    assert reply["ok"] is True
    out, mask = reply["value"]
    np.testing.assert_array_equal(out, [0.0, 2.0, 0.0, 4.0])
    np.testing.assert_array_equal(mask, [False, True, False, True])
    assert "args" not in reply


def test_an_exception_is_a_failed_call_with_its_first_line_and_a_short_traceback(student):
    (reply,) = send(worker.Evaluator(student), Call("not_done", (np.zeros(2),)))
    assert reply["ok"] is False
    first, *rest = reply["error"].splitlines()
    assert first == "raised ValueError: not done yet"
    assert "second line" not in first
    assert 0 < len(rest) <= worker.TRACEBACK_LINES
    # The candidate's own frame is shown; the worker's frame that called it is not.
    assert any('File "student.py"' in line and "in not_done" in line for line in rest)
    assert not any("worker.py" in line for line in rest)


def test_sys_exit_is_told_as_such_and_the_evaluator_goes_on(student):
    evaluator = worker.Evaluator(student)
    failed, ok = send(evaluator, Call("quits", (1,)), Call("relu_forward", (np.ones(1),)))
    assert failed == {"ok": False, "error": "called sys.exit(3)"}
    assert ok["ok"] is True


def test_a_missing_or_non_callable_name_is_not_defined(student):
    evaluator = worker.Evaluator(student)
    missing, constant = send(evaluator, Call("conv_forward", ()), Call("EPS", ()))
    assert missing == {"ok": False, "error": "does not define conv_forward"}
    assert constant == {"ok": False, "error": "does not define EPS"}


def test_stored_items_stay_behind_as_handles_and_a_later_call_resolves_them(student):
    evaluator = worker.Evaluator(student)
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    (forward,) = send(evaluator, Call("relu_forward", (x,), store=(1,)))
    out, cache = forward["value"]
    # The mask is an array and could travel, but store keeps it: the backward gets the very object.
    assert isinstance(out, np.ndarray)
    assert cache == wire.Handle(1, "ndarray")
    assert evaluator.kept[1] is not None
    dout = np.arange(4.0).reshape(2, 2)
    (backward,) = send(evaluator, Call("relu_backward", (dout, cache)))
    assert backward["ok"] is True
    np.testing.assert_array_equal(backward["value"], dout * (x > 0))


def test_an_object_that_cannot_travel_is_kept_without_being_asked(student):
    evaluator = worker.Evaluator(student)
    (forward,) = send(evaluator, Call("object_forward", (np.ones(3),)))
    _, cache = forward["value"]
    assert cache == wire.Handle(1, "Cache")
    (backward,) = send(evaluator, Call("object_backward", (np.ones(3), cache)))
    np.testing.assert_array_equal(backward["value"], 2 * np.ones(3))


def test_an_unknown_handle_fails_loudly():
    evaluator = worker.Evaluator(types.ModuleType("empty"))
    with pytest.raises(KeyError):
        evaluator.resolve(99)


def test_return_args_sends_back_what_the_call_did_to_its_arguments(student):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    param = {"mode": "train"}
    (reply,) = send(worker.Evaluator(student), Call("running_stats", (x, param), return_args=True))
    assert reply["ok"] is True
    x_after, param_after = reply["args"]
    np.testing.assert_array_equal(x_after, x + 1.0)  # mutated in place, there
    np.testing.assert_array_equal(param_after["running_mean"], [2.0, 3.0])
    assert param_after["mode"] == "train"
    np.testing.assert_array_equal(x, [[1.0, 2.0], [3.0, 4.0]])  # ours is untouched


def test_describe_exception_hints_at_python_2_and_numpy_1(student):
    evaluator = worker.Evaluator(student)
    xrange_reply, float_reply = send(evaluator, Call("python2", (3,)), Call("numpy1", (np.ones((1, 1, 1)),)))
    first = xrange_reply["error"].splitlines()[0]
    assert first.startswith("raised NameError: name 'xrange' is not defined")
    assert first.endswith("(xrange is Python 2: this code is Python 2, gradproof grades Python 3)")
    first = float_reply["error"].splitlines()[0]
    assert first.startswith("raised TypeError: only 0-dimensional arrays")
    assert "(fails on this NumPy only: NumPy 2" in first
    assert "`float(x.item())` works in both. To grade the code as it ran, use --numpy 1.26.4" in first


def test_describe_exception_of_a_load_error_is_its_message():
    message = "cannot load a.py: SyntaxError at line 3: invalid syntax: `def (`"
    assert worker.describe_exception(loader.LoadError(message)) == message
    assert worker.describe_exception(SystemExit("bye")) == "called sys.exit('bye')"
    assert worker.describe_exception(SystemExit()) == "called sys.exit(None)"


def test_defined_names_are_the_modules_own_callables(student):
    names = worker.defined_names(student)
    assert {"relu_forward", "relu_backward", "Cache", "takes"} <= names
    assert "imported_sum" not in names  # imported: not the candidate's own
    assert "np" not in names
    assert "EPS" not in names
    loaded = types.ModuleType("loaded")
    loaded.__gradproof_defined__ = frozenset({"only_this"})
    assert worker.defined_names(loaded) == frozenset({"only_this"})


def test_parameter_counts_where_python_can_tell(student):
    student.builtin_type = int  # no signature: left out, not an error
    counts = worker.parameter_counts(student, ["relu_forward", "relu_backward", "takes", "builtin_type"])
    assert counts == {"relu_forward": 1, "relu_backward": 2, "takes": 6}


def test_load_runs_a_files_definitions_only_and_notes_the_rest(tmp_path):
    marker = tmp_path / "ran.txt"
    source = tmp_path / "layers.py"
    source.write_text(
        "import numpy as np\n"
        f"open({str(marker)!r}, 'w').write('top level ran')\n"
        "def relu_forward(x):\n"
        "    return np.maximum(x, 0.0), x\n"
    )
    target = {"kind": "path", "target": str(source), "module_name": "gradproof_candidate_layers"}
    with isolated_imports():
        module, notes = worker.load(target)
    assert not marker.exists()
    assert worker.defined_names(module) == frozenset({"relu_forward"})
    (note,) = notes
    assert note.startswith(
        "layers.py: loaded its definitions only; 1 top-level statement(s) never ran: line 2"
    )
    (reply,) = send(worker.Evaluator(module), Call("relu_forward", (np.array([-1.0, 1.0]),)))
    np.testing.assert_array_equal(reply["value"][0], [0.0, 1.0])


def test_load_imports_a_module_by_name_as_it_is(tmp_path, monkeypatch):
    (tmp_path / "installed_layers.py").write_text(
        "STATE = []\nSTATE.append('top level ran')\ndef f(x):\n    return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with isolated_imports():
        module, notes = worker.load({"kind": "module", "target": "installed_layers"})
    assert notes == []
    assert module.STATE == ["top level ran"]  # an installed module is code its owner chose to run
    assert worker.defined_names(module) == frozenset({"f"})


def test_a_course_workers_refuses_the_answer_and_autograd_even_unsandboxed():
    """The sandbox binds NumPy alone for a course API; where there is none, the worker refuses the
    grader's modules and other autograd libraries itself, naming the import. (In the worker they are
    never imported before the candidate; this process has them, so the finder is asked directly.)"""
    from tests.inprocess import CANDIDATES

    target = {
        "kind": "path",
        "target": str(CANDIDATES / "relu_only.py"),
        "module_name": "gradproof_candidate_refused",
        "refuse": ["torch", "gradproof", "reference"],
    }
    with isolated_imports():
        worker.load(target)
        (finder,) = [f for f in sys.meta_path if isinstance(f, worker._Refuse)]
        with pytest.raises(
            ImportError, match=r"^import of torch refused: this assignment is graded on NumPy"
        ):
            finder.find_spec("torch.nn")
        with pytest.raises(ImportError, match=r"^import of reference refused"):
            finder.find_spec("reference.linear")
        assert finder.find_spec("numpy.linalg") is None
