"""Grading a candidate: its bindings turned into op specs, and the checks that compare them.

For each op a candidate implements there are two specs with the same examples: the candidate's,
whose functions run in its worker process, and the oracle's, the API's convention implemented over
the reference in this process. The checks of :mod:`gradproof.core.checks` then apply to the candidate's
spec unchanged (finite differences of its own forward, contracts), and :func:`check_forward` and
:func:`check_backward` compare it with the oracle's.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from gradproof.core import registry
from gradproof.core.checks import (
    CallFailed,
    KinkCrossed,
    call_backward,
    call_forward,
    check_gradients,
    present,
)
from gradproof.core.compare import as_array, assert_close, assert_finite, tolerance_for
from gradproof.core.fd import EPS
from gradproof.core.registry import Example, OpSpec
from gradproof.grading.binding import Api, Binding, Call, OptimizerBinding, expect_tuple
from gradproof.grading.process import Candidate, Reply, Worker

CHUNK = 256
"""Forward calls per request when finite differences batch them."""


class LocalExecutor:
    """Runs a module's functions in this process: an API's oracle, on copies of the arguments, or
    (``copy=False``) a candidate the benchmarks time, on the arguments themselves."""

    def __init__(self, module, *, copy: bool = True) -> None:
        self.module = module
        self.copy = copy

    def invoke(self, call: Call) -> Reply:
        function = getattr(self.module, call.fn)
        args, kwargs = call.args, call.kwargs
        if self.copy:
            args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        return Reply(function(*args, **kwargs), list(args))

    def invoke_many(self, calls: list[Call]) -> list[Reply]:
        return [self.invoke(call) for call in calls]

    def reset(self) -> None:
        pass


class WorkerExecutor:
    """Runs the candidate's functions in its worker process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._reset = False

    def reset(self) -> None:
        """Drop the caches the worker keeps, with the next request."""
        self._reset = True

    def _request(self, calls: list[Call]) -> list[dict]:
        reset, self._reset = self._reset, False
        return self.worker.call_many(
            [
                {
                    "fn": c.fn,
                    "args": c.args,
                    "kwargs": c.kwargs,
                    "store": c.store,
                    "return_args": c.return_args,
                }
                for c in calls
            ],
            reset=reset,
        )

    def invoke(self, call: Call) -> Reply:
        (reply,) = self._request([dataclasses.replace(call, return_args=True)])
        if not reply["ok"]:
            raise CallFailed(f"{call.fn} {reply['error']}")
        # What the call did to its array arguments, done to ours: the contracts check sees mutation.
        for sent, back in zip(call.args, reply.get("args") or [], strict=False):
            if isinstance(sent, np.ndarray) and isinstance(back, np.ndarray) and back.shape == sent.shape:
                if sent.flags.writeable and not np.array_equal(sent, back, equal_nan=True):
                    np.copyto(sent, back, casting="unsafe")
        return Reply(reply["value"], reply.get("args"))

    def invoke_many(self, calls: list[Call]) -> list[Reply]:
        replies = []
        for start in range(0, len(calls), CHUNK):
            chunk = [
                dataclasses.replace(c, store=(), return_args=False) for c in calls[start : start + CHUNK]
            ]
            for call, reply in zip(chunk, self._request(chunk), strict=True):
                if not reply["ok"]:
                    raise CallFailed(f"{call.fn} {reply['error']}")
                replies.append(Reply(reply["value"], None))
        return replies


def _core(shape) -> tuple[int, ...]:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def harmless_variant(got: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    """Whether shape ``got`` differs from ``wanted`` only by leading axes of length 1: ``(1, D)``
    for ``(D,)``, which many correct solutions return (``keepdims=True``) and which broadcasts
    as the template's shape does."""
    return tuple(got) != tuple(wanted) and _core(got) == _core(wanted)


def _symbolic(shape: tuple[int, ...], core: tuple[int, ...]) -> str:
    """``(1, 3)`` as ``(1, D)``: the leading ones kept, the sizes that matter named."""
    names = ["D"] if len(core) == 1 else [f"D{i}" for i in range(1, len(core) + 1)]
    parts = ["1"] * (len(shape) - len(core)) + names
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"


@dataclass
class ShapePolicy:
    """What a candidate's harmless shape variants get: a warning and its values graded as they
    are (the default), or, with ``--strict-shapes``, a failed check."""

    strict: bool = False
    seen: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def warnings(self) -> dict[str, str]:
        """Quantity (``batchnorm dgamma``) -> its warning."""
        return {quantity: message for quantity, (_, message) in self.seen.items()}

    def accept(self, quantity: str, got, wanted: tuple[int, ...]):
        """``got``, reshaped to ``wanted`` when it is a harmless variant of it (and warned of)."""
        if not isinstance(got, np.ndarray) or not harmless_variant(got.shape, wanted):
            return got
        core = _core(wanted)
        got_text, wanted_text = _symbolic(got.shape, core), _symbolic(wanted, core)
        message = f"{quantity}: returns {got_text}; the template asks for {wanted_text}"
        if core:
            message += f" (here {got.shape} for {tuple(wanted)})"
        if self.strict:
            raise CallFailed(f"{message} (--strict-shapes)")
        # The message of the example with the most named sizes: (1, 1) for (1,) says less.
        if len(core) >= self.seen.get(quantity, (-1, ""))[0]:
            self.seen[quantity] = (len(core), message)
        return got.reshape(wanted)

    def gradients(self, binding: Binding, grads, shapes: list[tuple[int, ...]]):
        """A backward's gradients, each held to the shape of its input (the differentiable inputs
        come first, in order)."""
        if len(binding.differentiable) == 1 and isinstance(grads, np.ndarray):
            return self.accept(f"{binding.op} d{binding.differentiable[0]}", grads, shapes[0])
        if not isinstance(grads, tuple):
            return grads
        return (
            tuple(
                self.accept(f"{binding.op} d{name}", grad, shape)
                for name, grad, shape in zip(binding.differentiable, grads, shapes, strict=False)
            )
            + grads[min(len(shapes), len(binding.differentiable)) :]
        )


@dataclass
class BoundCache:
    """What a bound forward hands its backward: the API's own cache, the quantities the forward
    left behind (running statistics) for the forward check, and its inputs' shapes."""

    inner: Any
    extras: dict
    shapes: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"BoundCache({self.inner!r})"


def bind(binding: Binding, executor, name: str | None = None, shapes: ShapePolicy | None = None) -> OpSpec:
    """An op spec whose forward and backward call ``binding``'s functions through ``executor``;
    with ``shapes``, the gradients a backward returns in a harmless variant of their input's shape
    are reshaped (or fail, when strict), so that every check judges their values."""
    reference = registry.get(binding.reference) if binding.reference else None

    def forward(*arrays, **hparams):
        call = binding.forward_call(arrays, hparams)
        reply = executor.invoke(call)
        out, cache, extras = binding.forward_result(reply.value, reply.args, hparams)
        return out, BoundCache(cache, extras, [np.shape(a) for a in arrays])

    def many(points):
        calls = [binding.forward_call(tuple(args), hparams) for args, hparams in points]
        results = []
        for (_, hparams), reply in zip(points, executor.invoke_many(calls), strict=True):
            out, cache, _ = binding.forward_result(reply.value, reply.args, hparams)
            results.append((as_array(out, f"{binding.functions[0]} (a finite-difference call)"), cache))
        return results

    forward.many = many
    forward.__name__ = binding.functions[0]

    def backward(dout, cache):
        if binding.backward is None:
            raise TypeError(f"{binding.op} has a forward only")
        if not isinstance(cache, BoundCache):
            raise TypeError(f"{binding.op} backward: expected the cache of its own forward, got {cache!r}")
        grads = binding.backward(lambda call: executor.invoke(call).value, dout, cache.inner)
        return grads if shapes is None else shapes.gradients(binding, grads, cache.shapes)

    backward.__name__ = binding.functions[-1]
    kink_distance = None
    if reference is not None and reference.kink_distance is not None:
        to_reference = binding.to_reference or (lambda example: example)

        def kink_distance(example: Example) -> float:
            return reference.kink_distance(to_reference(example))

    return OpSpec(
        name=name or binding.op,
        forward=forward,
        backward=backward,
        twin=reference.twin if reference else None,
        examples=binding.examples,
        differentiable=binding.differentiable,
        kink_distance=kink_distance,
        tolerances=reference.tolerances if reference else (),
    )


class Graded:
    """One op or optimizer of one candidate: the unit of a test id (``alice-conv2d``) and of the
    grade table.

    A plain class with a short repr: Hypothesis prints the arguments of a failing test, and the
    student needs the example, not the binding's internals.
    """

    def __init__(
        self,
        candidate: Candidate,
        api: Api,
        binding,
        worker: Worker,
        convention=None,
        shapes: ShapePolicy | None = None,
    ) -> None:
        self.candidate, self.api, self.binding, self.worker = candidate, api, binding, worker
        self.convention = convention
        """The course year graded against (:meth:`Api.choose_convention`), or None."""
        self.shapes = shapes if shapes is not None else ShapePolicy()

    @property
    def unit(self) -> str:
        """The op's or optimizer's name."""
        raise NotImplementedError

    @property
    def functions(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def id(self) -> str:
        return f"{self.candidate.name}-{self.unit}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id}: {' / '.join(self.functions)}, {self.api.name} API)"

    @cached_property
    def executor(self) -> WorkerExecutor:
        return WorkerExecutor(self.worker)

    @cached_property
    def local(self) -> LocalExecutor:
        """The API's oracle, run in this process."""
        return LocalExecutor(self.api.oracle_module(self.convention))

    def context(self) -> str:
        missing = [fn for fn in self.functions if fn not in self.worker.names]
        lines = [
            f"  candidate: {self.candidate.name} ({self.candidate.target}), {self.api.name} API: "
            + " / ".join(self.functions)
        ]
        if missing:
            lines.append(f"  not defined by the candidate: {', '.join(missing)}")
        if self.convention is not None:
            lines.append(f"  {self.convention.describe()}")
        return "\n".join(lines)


class GradedOp(Graded):
    binding: Binding

    @property
    def unit(self) -> str:
        return self.binding.op

    @property
    def functions(self) -> tuple[str, ...]:
        return self.binding.functions

    @cached_property
    def spec(self) -> OpSpec:
        return bind(self.binding, self.executor, shapes=self.shapes)

    @cached_property
    def oracle(self) -> OpSpec:
        return bind(self.binding, self.local)

    def oracle_example(self, example: Example, out: np.ndarray) -> Example:
        """The example the oracle is called with, given the candidate's output (its random draw)."""
        if self.binding.oracle_example is None:
            return example.copy()
        return self.binding.oracle_example(example.copy(), out)


def _consistent_with_own_forward(graded: GradedOp, example: Example, seed: int) -> bool | None:
    """Whether the candidate's backward matches finite differences of its own forward (None when
    the step crossed a kink and cannot tell, or the example sits on one: a tie the comparison
    examples draw on purpose)."""
    kink_distance = graded.spec.kink_distance
    if kink_distance is not None and not kink_distance(example) > 2 * EPS:
        return None
    try:
        check_gradients(graded.spec, example, seed=seed, full=False)
    except KinkCrossed:
        return None
    except AssertionError:
        return False
    return True


ALSO_WRONG = "its backward also disagrees with finite differences of its own forward"


def _zeros(quantity: str, got, expected) -> str:
    """A first line for a result of zeros where the reference's is not: partial work (a template's
    ``np.zeros`` never filled in), said plainly in the grade table."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape == expected.shape and got.size and not np.any(got) and np.any(expected):
        return f"{quantity}: returns all zeros (not implemented yet?) where the reference's is not\n"
    return ""


def _extra_checks(graded: GradedOp, example: Example, text: str) -> None:
    """The binding's checks of what a comparison with the oracle cannot see, before it: a dropout
    keeping the wrong fraction of units is told by its convention, not by the scale of the units
    it kept, in the forward's message and the backward's."""
    __tracebackhide__ = True
    for check in graded.binding.extra_checks:
        check(graded, example.copy(), text)


def check_forward(graded: GradedOp, example: Example, *, seed: int) -> None:
    """The candidate's forward, and what it leaves behind (running statistics), equal the oracle's."""
    __tracebackhide__ = True
    graded.executor.reset()
    text = f"  example: {example.describe()}\n{graded.context()}"
    spec = graded.spec
    tol = spec.tolerance("oracle")
    got, cache = call_forward(spec, example.copy(), text)
    _extra_checks(graded, example, text)
    expected, expected_cache = call_forward(graded.oracle, graded.oracle_example(example, got), text)
    got = _held_to(graded, f"{spec.name} forward", got, expected.shape, text)
    try:
        assert_close(
            got,
            expected,
            tol=tol,
            quantity=f"{spec.name} forward",
            context=text,
            got_label="yours",
            expected_label="reference",
        )
    except AssertionError as exc:
        zeros = _zeros(f"{spec.name} forward", got, expected)
        consistent = _consistent_with_own_forward(graded, example, seed)
        if consistent is None:
            raise AssertionError(f"{zeros}{exc}") from None
        verdict = (
            "your backward is consistent with your forward, but your forward is wrong"
            if consistent
            else ALSO_WRONG
        )
        raise AssertionError(f"{zeros}{exc}\n  {verdict}") from None
    for quantity, value in expected_cache.extras.items():
        if quantity not in cache.extras:
            raise AssertionError(
                f"{spec.name} {quantity}: the forward did not leave it where expected\n{text}"
            )
        found = as_array(cache.extras[quantity], f"{spec.name} {quantity}", text)
        assert_close(
            _held_to(graded, f"{spec.name} {quantity}", found, np.shape(value), text),
            value,
            tol=tol,
            quantity=f"{spec.name} {quantity}",
            context=text,
            got_label="yours",
            expected_label="reference",
        )


def _held_to(graded: GradedOp, quantity: str, got: np.ndarray, wanted, text: str) -> np.ndarray:
    __tracebackhide__ = True
    try:
        return graded.shapes.accept(quantity, got, tuple(wanted))
    except CallFailed as exc:
        raise AssertionError(f"{exc}\n{text}") from None


def check_backward(graded: GradedOp, example: Example, *, seed: int) -> None:
    """The candidate's backward equals the oracle's for the same upstream gradient.

    The candidate's own forward makes the cache; when the forward is itself wrong, the message
    says so, since the backward is then judged from a wrong cache.
    """
    __tracebackhide__ = True
    graded.executor.reset()
    text = f"  example: {example.describe()}\n{graded.context()}"
    text += f"\n  upstream gradient dout: standard normal, seed {seed}"
    spec, oracle = graded.spec, graded.oracle
    out, cache = call_forward(spec, example.copy(), text)
    _extra_checks(graded, example, text)
    expected_out, expected_cache = call_forward(oracle, graded.oracle_example(example, out), text)
    v = np.random.default_rng(seed).standard_normal(expected_out.shape)
    if out.shape != expected_out.shape:
        raise AssertionError(
            f"{spec.name} forward: returned shape {out.shape}, expected {expected_out.shape}; the backward "
            f"cannot be judged without a forward of the right shape\n{text}"
        )
    expected = call_backward(oracle, v.copy(), expected_cache, example, text)
    grads = call_backward(spec, v.copy(), cache, example, text)
    for name in present(spec, example):
        try:
            assert_close(
                grads[name],
                expected[name],
                tol=spec.tolerance("oracle"),
                quantity=f"{spec.name} d{name}",
                context=text,
                got_label="yours",
                expected_label="reference",
            )
        except AssertionError as exc:
            if graded.binding.explain is not None:
                why = graded.binding.explain(example.copy(), v.copy(), grads)
                if why:
                    raise AssertionError(f"{why}\n{exc}") from None
            zeros = _zeros(f"{spec.name} d{name}", grads[name], expected[name])
            consistent = _consistent_with_own_forward(graded, example, seed)
            if consistent is None:
                raise AssertionError(f"{zeros}{exc}") from None
            verdict = "its backward is consistent with its own forward" if consistent else ALSO_WRONG
            raise AssertionError(f"{zeros}{exc}\n  {verdict}") from None


# -- optimizers ------------------------------------------------------------------------------------


class GradedOptimizer(Graded):
    binding: OptimizerBinding

    @property
    def unit(self) -> str:
        return self.binding.name

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.binding.fn,)


def check_optimizer(graded: GradedOptimizer, w: np.ndarray, grads: list, config: dict) -> None:
    """Every step's parameter and every state entry of the config equal the oracle's.

    When they do not, and the course's conventions changed over the years, the message says
    whether another year's oracle agrees (Adam's ``t`` starting at 1 in cs231n-2017).
    """
    __tracebackhide__ = True
    try:
        _trajectory(graded, graded.local, w, grads, config)
    except AssertionError as exc:
        for other in graded.convention.others() if graded.convention is not None else ():
            try:
                _trajectory(graded, LocalExecutor(graded.api.oracle_module(other)), w, grads, config)
            except AssertionError:
                continue
            raise AssertionError(
                f"{graded.binding.name}: matches the {other.name} convention ({other.rules_text()}), "
                f"not {graded.convention.name}'s: grade with --convention {other.name} if that is your "
                f"assignment's\n{exc}"
            ) from None
        raise


def _trajectory(graded: GradedOptimizer, oracle, w: np.ndarray, grads: list, config: dict) -> None:
    __tracebackhide__ = True
    b = graded.binding
    text = f"  example: w {w.shape}, {len(grads)} steps, first config {config!r}\n{graded.context()}"
    tol = tolerance_for("oracle", np.float64, ())
    ours, theirs = (w.copy(), dict(config)), (w.copy(), dict(config))
    for step, dw in enumerate(grads, start=1):
        results = []
        for executor, (w_now, config_now) in ((oracle, ours), (graded.executor, theirs)):
            if b.call is None:
                call = Call(b.fn, (w_now.copy(), dw.copy(), dict(config_now)))
            else:
                call = b.call(w_now.copy(), dw.copy(), dict(config_now), step)
            try:
                value = executor.invoke(call).value
                if b.unpack is None:
                    next_w, next_config = expect_tuple(value, 2, b.fn, "next_w, config")
                else:
                    next_w, next_config = b.unpack(value, dict(config_now))
            except CallFailed as exc:
                raise AssertionError(f"{b.name} step {step}: {exc}\n{text}") from None
            if not isinstance(next_config, dict):
                raise AssertionError(
                    f"{b.name} step {step}: {b.fn} returned a {type(next_config).__name__} as its config, "
                    f"expected a dict\n{text}"
                )
            results.append((as_array(next_w, f"{b.name} step {step}: next_w", text), next_config))
        (w_ref, config_ref), (w_got, config_got) = results
        where = f"{text}\n  after step {step}"
        assert_close(
            w_got,
            w_ref,
            tol=tol,
            quantity=f"{b.name} next_w",
            context=where,
            got_label="yours",
            expected_label="reference",
        )
        for key in b.state:
            if key not in config_got:
                raise AssertionError(
                    f"{b.name} config[{key!r}]: not in the config returned after step {step}\n{text}"
                )
            assert_close(
                as_array(config_got[key], f"{b.name} config[{key!r}]", where),
                np.asarray(config_ref[key], dtype=np.float64),
                tol=tol,
                quantity=f"{b.name} config[{key!r}]",
                context=where,
                got_label="yours",
                expected_label="reference",
            )
        ours, theirs = (w_ref, config_ref), (w_got, config_got)


def check_forward_contracts(graded: GradedOp, example: Example, *, seed: int) -> None:
    """The contracts of an op with a forward only: inputs left alone, a finite array of the inputs'
    float dtype, the same result twice."""
    __tracebackhide__ = True
    graded.executor.reset()
    spec, text = graded.spec, f"  example: {example.describe()}\n{graded.context()}"
    working = example.copy()
    out, _ = call_forward(spec, working, text)
    again, _ = call_forward(spec, example.copy(), text)
    for name, original in example.inputs.items():
        if not np.array_equal(working.inputs[name], original, equal_nan=True):
            raise AssertionError(f"{spec.name} forward: mutated its input {name}\n{text}")
    dtype = np.result_type(*example.inputs.values())
    if out.dtype != dtype:
        raise AssertionError(f"{spec.name} forward: output has dtype {out.dtype}, expected {dtype}\n{text}")
    assert_finite(out, quantity=f"{spec.name} forward", context=text)
    assert_close(
        again,
        out,
        tol=spec.tolerance("oracle"),
        quantity=f"{spec.name} forward, second call",
        context=text,
        got_label="second call",
        expected_label="first call",
    )
