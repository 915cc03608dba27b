r"""Check a backward pass in one call, from a notebook or a script.

>>> import gradproof, numpy as np
>>> from reference.linear import affine_forward, affine_backward
>>> rng = np.random.default_rng(0)
>>> result = gradproof.check(affine_forward, affine_backward, x=rng.standard_normal((4, 5)),
...                          w=rng.standard_normal((5, 3)), b=rng.standard_normal(3))
>>> bool(result)
True

:func:`check` takes the native convention, ``forward(*inputs, **hparams) -> (out, cache)`` and
``backward(dout, cache) -> gradients``, inputs by name (arrays, NumPy or torch) and hyperparameters
as keywords (anything else); or a ``torch.autograd.Function`` subclass, whose hand-written forward
and backward are called with a context object of their own, without autograd. It runs the checks
the properties run, on the given inputs:

* ``contracts``: :func:`gradproof.core.checks.check_contracts` (no input or ``dout`` mutated, shapes
  and dtypes, finite, the same twice);
* ``gradients``: :func:`gradproof.core.joint.check_gradients_joint` (random directions over all
  inputs, the wrong element found by group testing; ``precise=True`` for Richardson extrapolation);
* ``against NAME``: forward and backward equal the registered op's reference at the oracle tolerance.

:func:`check_op` runs a registered op's properties (the same check functions, on the op's Hypothesis
examples, drawn and shrunk in this process) on another forward and backward.

Everything a user reads comes back in a :class:`CheckResult`: truthy when every check passed, plain
text as its ``str``, an HTML table in Jupyter, :meth:`CheckResult.raise_for_failure` for scripts.
"""

from __future__ import annotations

import dataclasses
import html
import inspect
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradproof.core import checks, registry
from gradproof.core.compare import assert_close, format_index, tolerance_for
from gradproof.core.joint import JOINT_DIRECTIONS, check_gradients_joint
from gradproof.core.registry import Example, OpSpec

__all__ = ["CheckFailed", "CheckResult", "Finding", "assert_check", "check", "check_op"]


class CheckFailed(AssertionError):
    """Raised by :meth:`CheckResult.raise_for_failure`: the result's text is the message."""


@dataclass
class Finding:
    """One check's verdict: what was checked, whether it passed, and for a failure the parts of its
    message (the quantity, the worst element, expected and got, whether a kink was crossed)."""

    check: str
    passed: bool
    message: str = ""
    quantity: str | None = None
    element: tuple[int, ...] | None = None
    expected: float | None = None
    got: float | None = None
    expected_label: str = "expected"
    got_label: str = "got"
    kink: bool = False

    @classmethod
    def from_error(cls, check: str, error: BaseException) -> Finding:
        details = getattr(error, "details", {}) or {}
        if isinstance(error, AssertionError):
            message = str(error)
        else:  # the code under test raised: say what and where, never crash the harness
            frames = traceback.format_exception(type(error), error, error.__traceback__, limit=-3)
            message = f"raised {type(error).__name__}: {error}\n" + "".join(frames).rstrip()
        lines = message.splitlines()
        first = lines[0].split(":", 1)[0] if lines and ":" in lines[0] else None
        return cls(
            check=check,
            passed=False,
            message=message,
            quantity=details.get("quantity", first),
            element=details.get("index"),
            expected=details.get("expected"),
            got=details.get("got"),
            expected_label=details.get("expected_label", "expected"),
            got_label=details.get("got_label", "got"),
            kink=isinstance(error, checks.KinkCrossed),
        )


@dataclass
class CheckResult:
    """The verdict of :func:`check` or :func:`check_op`: truthy when every check passed."""

    name: str
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    forward_calls: int | None = None

    def __bool__(self) -> bool:
        return all(finding.passed for finding in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.passed]

    def raise_for_failure(self) -> CheckResult:
        """Raise :class:`CheckFailed` with this result's text unless every check passed; else return
        the result."""
        __tracebackhide__ = True
        if not self:
            raise CheckFailed(str(self))
        return self

    def _headline(self) -> str:
        calls = f", {self.forward_calls} forward calls" if self.forward_calls is not None else ""
        if self:
            return f"{self.name}: passed {len(self.findings)} checks ({', '.join(self._names())}){calls}"
        names = ", ".join(finding.check for finding in self.failures)
        return f"{self.name}: FAILED {len(self.failures)} of {len(self.findings)} checks ({names}){calls}"

    def _names(self) -> list[str]:
        return [finding.check for finding in self.findings]

    def __str__(self) -> str:
        lines = [self._headline()]
        for finding in self.findings:
            lines.append(f"  {finding.check}: {'ok' if finding.passed else 'FAILED'}")
            if not finding.passed:
                lines.extend("    " + line for line in finding.message.splitlines())
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self else "#cf222e"
        rows = []
        for f in self.findings:
            cells = [
                f.check,
                "ok" if f.passed else ("kink crossed" if f.kink else "FAILED"),
                f.quantity or "",
                "" if f.element is None else format_index(f.element),
                "" if f.expected is None else f"{f.expected:.10g} ({f.expected_label})",
                "" if f.got is None else f"{f.got:.10g} ({f.got_label})",
            ]
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        head = "".join(
            f"<th>{h}</th>" for h in ("check", "verdict", "quantity", "worst element", "expected", "got")
        )
        details = "".join(
            f"<details><summary>{html.escape(f.check)}</summary><pre>{html.escape(f.message)}</pre></details>"
            for f in self.failures
        )
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        return (
            f'<div><p style="color:{colour}"><b>{html.escape(self._headline())}</b></p>'
            f"<table><tr>{head}</tr>{''.join(rows)}</table>{details}"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</div>"
        )


# ---- the boundary: torch tensors and autograd Functions in, NumPy arrays inside -------------------


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _to_numpy(value):
    if _is_tensor(value):
        return value.detach().cpu().numpy()
    return value


def _is_autograd_function(forward) -> bool:
    if not isinstance(forward, type):
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return issubclass(forward, torch.autograd.Function)


class _Context:
    """What a hand-written ``torch.autograd.Function`` expects of ``ctx``, without autograd."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors) -> None:
        self.saved_tensors = tensors

    def mark_dirty(self, *tensors) -> None:
        pass

    def mark_non_differentiable(self, *tensors) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


def _torch_wrappers(forward, backward, names: list[str], wrt: tuple[str, ...], function: bool):
    """forward and backward on NumPy arrays for functions on torch tensors (sharing memory, so that a
    mutation by the function shows in the arrays the contracts check)."""
    import torch

    def tensor(value):
        return torch.from_numpy(value) if isinstance(value, np.ndarray) else value

    def forward_np(*args, **hparams):
        tensors = [tensor(a) for a in args]
        if function:
            ctx = _Context(tuple(name in wrt for name in names))
            out = forward.forward(ctx, *tensors, **hparams)
            return _to_numpy(out), ctx
        out, cache = forward(*tensors, **hparams)
        return _to_numpy(out), cache

    def backward_np(dout, cache):
        call = forward.backward if function else backward
        grads = call(cache, tensor(dout)) if function else call(tensor(dout), cache)
        if isinstance(grads, (tuple, list)):
            return type(grads)(_to_numpy(g) for g in grads)
        return _to_numpy(grads)

    return forward_np, backward_np


@dataclass
class _Cache:
    """The user's cache, with the dtype of the output it came with."""

    cache: Any
    dtype: np.dtype


def _native(forward, backward, names: list[str], wrt: tuple[str, ...]):
    """forward and backward as the checks call them.

    The checks draw ``dout`` in float64; a float32 layer gets it in its output's dtype, as autograd
    would give it (else NumPy promotes its gradients to float64 and the dtype contract fails for a
    reason of ours). A mutation of the converted ``dout`` is written back, for the contract to see.
    A backward returning one gradient per input (None or a gradient for those not checked), or with
    trailing Nones (an autograd Function's, for its hyperparameters), gives one per ``wrt``.
    """

    def forward_native(*args, **hparams):
        result = forward(*args, **hparams)
        if not isinstance(result, tuple) or len(result) != 2:
            return result  # the contract says what is wrong with it
        out, cache = result
        return out, _Cache(cache, getattr(out, "dtype", None))

    def backward_native(dout, cache):
        if not isinstance(cache, _Cache):
            raise AssertionError("backward: called with a cache this forward did not return")
        sent = dout
        if cache.dtype is not None and np.issubdtype(cache.dtype, np.floating) and dout.dtype != cache.dtype:
            sent = dout.astype(cache.dtype)
        grads = backward(sent, cache.cache)
        if sent is not dout and not np.array_equal(sent, dout.astype(cache.dtype)):
            dout[...] = sent
        if not isinstance(grads, (tuple, list)):
            return grads
        grads = list(grads)
        while len(grads) > len(names) and grads[-1] is None:
            grads.pop()
        if len(grads) == len(names) != len(wrt):
            grads = [g for name, g in zip(names, grads, strict=True) if name in wrt]
        return tuple(grads)

    return forward_native, backward_native


def _op_name(forward, name: str | None) -> str:
    raw = name or getattr(forward, "__name__", "layer")
    raw = re.sub(r"_?(forward|Function)$", "", raw) or "layer"
    cleaned = re.sub(r"[^a-z0-9_]", "_", re.sub(r"(?<!^)(?=[A-Z])", "_", raw).lower()).strip("_")
    return cleaned if re.match(r"^[a-z][a-z0-9_]*$", cleaned) else "layer"


def _split(arguments: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any], bool]:
    """Arrays (NumPy or torch) are inputs; every other keyword is a hyperparameter."""
    inputs, hparams, tensors = {}, {}, False
    for key, value in arguments.items():
        if _is_tensor(value):
            inputs[key], tensors = np.array(_to_numpy(value)), True
        elif isinstance(value, np.ndarray):
            inputs[key] = value
        else:
            hparams[key] = value
    return inputs, hparams, tensors


def _in_call_order(forward, inputs: dict[str, np.ndarray], function: bool) -> dict[str, np.ndarray]:
    """The inputs in the order of the forward's parameters, when it names them all."""
    try:
        target = forward.forward if function else forward
        params = [p for p in inspect.signature(target).parameters if p != "ctx"]
    except (TypeError, ValueError):
        return inputs
    if not set(inputs) <= set(params):
        return inputs
    return {name: inputs[name] for name in sorted(inputs, key=params.index)}


class _Counting:
    """A forward that counts its calls."""

    def __init__(self, forward):
        self.forward, self.calls = forward, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.forward(*args, **kwargs)


def _prepare(forward, backward, wrt, name, arguments):
    function = _is_autograd_function(forward)
    if backward is None and not function:
        raise TypeError(
            "check(forward, backward, ...): give the backward too, or a torch.autograd.Function subclass"
        )
    inputs, hparams, tensors = _split(arguments)
    if not inputs:
        raise TypeError("check(): no inputs: pass the arrays by name, check(forward, backward, x=..., w=...)")
    inputs = _in_call_order(forward, inputs, function)
    floating = tuple(n for n, v in inputs.items() if np.issubdtype(v.dtype, np.floating))
    if wrt is None:
        wrt = floating
    wrt = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    unknown = [n for n in wrt if n not in inputs]
    if unknown:
        raise ValueError(f"wrt names {unknown}, which are not among the inputs {list(inputs)}")
    not_float = [n for n in wrt if n not in floating]
    if not_float:
        raise ValueError(f"wrt names {not_float}, which are not floating-point arrays: cannot differentiate")
    if not wrt:
        raise ValueError(f"no floating-point input to differentiate among {list(inputs)}")
    names = list(inputs)
    if function or tensors:
        forward_np, backward_np = _torch_wrappers(forward, backward, names, wrt, function)
    else:
        forward_np, backward_np = forward, backward
    counting = _Counting(forward_np)
    forward_native, backward_native = _native(counting, backward_np, names, wrt)
    spec = OpSpec(
        name=_op_name(forward, name),
        forward=forward_native,
        backward=backward_native,
        twin=None,
        examples=None,
        differentiable=wrt,
    )
    return spec, Example(inputs, hparams), counting


def check(
    forward: Callable,
    backward: Callable | None = None,
    /,
    *,
    wrt: str | tuple[str, ...] | None = None,
    against: str | None = None,
    precise: bool = False,
    directions: int = JOINT_DIRECTIONS,
    seed: int = 0,
    name: str | None = None,
    **arguments,
) -> CheckResult:
    r"""Check ``backward`` against finite differences of ``forward`` on the given inputs, and the contracts.

    Parameters
    ----------
    forward : callable or torch.autograd.Function subclass
        ``forward(*inputs, **hparams) -> (out, cache)``; inputs are passed in the order of its
        parameters when it names them, else in the order given.
    backward : callable, optional
        ``backward(dout, cache) -> gradients``: one array, or one per ``wrt`` name, or one per input
        (``None`` for those not differentiated). Not given for an autograd Function.
    wrt : str or tuple of str, optional
        The inputs to differentiate; default every floating-point array.
    against : str, optional
        A registered op's name (``"conv2d"``): its reference's forward and backward must equal these
        on the same inputs, at the oracle tolerance.
    precise : bool
        Richardson extrapolation and its error estimate instead of the fixed step and tolerance
        (for a smooth float64 forward; a backward wrong by one part in 10^6 fails).
    directions : int
        Random directions over all inputs (:data:`gradproof.core.joint.JOINT_DIRECTIONS`).
    seed : int
        For the upstream gradient and the directions.
    **arguments
        Arrays (NumPy or torch) are the inputs; everything else is a hyperparameter.

    Returns
    -------
    CheckResult
        Truthy when every check passed; ``str()`` it, show it in Jupyter, or ``.raise_for_failure()``.
    """
    spec, example, counting = _prepare(forward, backward, wrt, name, arguments)
    findings, notes = [], []
    try:
        checks.check_contracts(spec, example, seed=seed)
        findings.append(Finding("contracts", True))
    except Exception as error:
        findings.append(Finding.from_error("contracts", error))
    label = "gradients (precise)" if precise else "gradients"
    try:
        outcome = check_gradients_joint(spec, example, seed=seed, directions=directions, precise=precise)
        findings.append(Finding(label, True))
        notes.extend(outcome.notes)
    except Exception as error:
        findings.append(Finding.from_error(label, error))
    if against is not None:
        try:
            _check_against(spec, example, against, seed)
            findings.append(Finding(f"against {against}", True))
        except Exception as error:
            findings.append(Finding.from_error(f"against {against}", error))
    return CheckResult(spec.name, findings, notes, counting.calls)


def assert_check(forward: Callable, backward: Callable | None = None, /, **kwargs) -> CheckResult:
    """:func:`check`, raising :class:`CheckFailed` (an ``AssertionError``) with its text on failure."""
    __tracebackhide__ = True
    return check(forward, backward, **kwargs).raise_for_failure()


def _check_against(spec: OpSpec, example: Example, against: str, seed: int) -> None:
    """Forward and backward equal the registered op's reference on the same inputs (by name)."""
    __tracebackhide__ = True
    reference = registry.get(against)
    try:
        parameters = inspect.signature(reference.forward).parameters
        accepted = [n for n, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    except (TypeError, ValueError):
        accepted = list(example.inputs)
    missing = [n for n in (*example.inputs, *example.hparams) if n not in accepted]
    if missing:
        raise AssertionError(
            f"against {against}: its reference {reference.source}.{reference.forward.__name__} takes "
            f"({', '.join(accepted)}), not {missing}: name the inputs and hyperparameters as it does"
        )
    ordered = {n: example.inputs[n].astype(np.float64) for n in accepted if n in example.inputs}
    text = f"  example: {example.describe()}\n  reference: {against} from {reference.source}"
    out_ref, cache_ref = reference.forward(**ordered, **example.hparams)
    out, cache = checks.call_forward(spec, example.copy(), text)
    dtype = np.result_type(*(example.inputs[n].dtype for n in spec.differentiable))
    tol = tolerance_for("oracle", dtype if dtype in (np.float32, np.float64) else np.float32)
    assert_close(
        out,
        out_ref,
        tol=tol,
        quantity=f"{spec.name} forward",
        context=text,
        got_label="forward",
        expected_label=f"{against} reference",
    )
    dout = np.random.default_rng(seed).standard_normal(np.shape(out_ref))
    grads = checks.call_backward(spec, dout.astype(out.dtype), cache, example, text)
    ref_names = [n for n in reference.differentiable if n in ordered]
    ref_grads = reference.backward(dout.copy(), cache_ref)
    ref_grads = (ref_grads,) if not isinstance(ref_grads, (tuple, list)) else ref_grads
    if len(ref_grads) == len(reference.differentiable) != len(ref_names):
        ref_grads = [g for n, g in zip(reference.differentiable, ref_grads, strict=True) if n in ordered]
    by_name = dict(zip(ref_names, ref_grads, strict=True))
    for name in spec.differentiable:
        if name not in by_name:
            continue
        assert_close(
            grads[name],
            by_name[name],
            tol=tol,
            quantity=f"{spec.name} d{name}",
            context=text,
            got_label="backward",
            expected_label=f"{against} reference",
        )


# ---- a registered op's properties on another implementation --------------------------------------


def _op_checks(spec: OpSpec) -> dict[str, Callable]:
    """The checks the properties run on every op (``properties/test_*.py``), by name."""
    runs = {
        "gradients": checks.check_gradients,
        "contracts": checks.check_contracts,
        "linearity": checks.check_backward_linearity,
        "torch twin": checks.check_against_twin,
    }
    if spec.kinks is not None and spec.kinks.onto is not None:
        runs["at kinks"] = checks.check_against_twin_at_kinks
    return runs


def check_op(
    op: str,
    *,
    forward: Callable,
    backward: Callable | None = None,
    examples: int = 50,
    seed: int = 0,
    tensors: bool = False,
) -> CheckResult:
    r"""Run op ``op``'s properties on ``forward`` and ``backward`` instead of its reference.

    Each check (finite differences, contracts, linearity of the backward, the PyTorch twin, and the
    twin at the op's kinks when it declares them) runs on up to ``examples`` of the op's Hypothesis
    examples, drawn in this process with ``seed``; a failure is shrunk to a minimal example, as in
    ``pytest``. ``tensors=True`` (or an autograd Function) converts at the boundary as :func:`check`.
    """
    reference = registry.get(op)
    function = _is_autograd_function(forward)
    if backward is None and not function:
        raise TypeError("check_op(op, forward=..., backward=...): give the backward too")
    fwd, bwd = forward, backward
    if function or tensors:
        fwd, bwd = _torch_wrappers(
            forward, backward, _reference_input_names(reference), reference.differentiable, function
        )
    counting = _Counting(fwd)
    fwd, bwd = _native(counting, bwd, _reference_input_names(reference), reference.differentiable)
    spec = dataclasses.replace(reference, forward=fwd, backward=bwd)
    findings = []
    for label, run in _op_checks(spec).items():
        try:
            _property(spec, run, examples, seed)()
            findings.append(Finding(label, True))
        except Exception as error:
            findings.append(Finding.from_error(label, error))
    notes = [f"{examples} examples per check from {op}'s strategy, seed {seed}; failures shrunk"]
    return CheckResult(f"{op} (check_op)", findings, notes, counting.calls)


def _property(spec: OpSpec, run: Callable, examples: int, seed: int) -> Callable:
    """``run`` as a Hypothesis property over ``spec``'s examples, as in ``properties/test_*.py``."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from gradproof.core import strategies as gs

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        report_multiple_bugs=False,
        # The user's code may be slow or draw large examples; say nothing of it, check it.
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def property_(data):
        example = data.draw(spec.examples, label=f"{spec.name} example")
        run(spec, example, seed=data.draw(gs.seeds(), label="seed"))

    return property_


def _reference_input_names(spec: OpSpec) -> list[str]:
    try:
        parameters = inspect.signature(spec.forward).parameters.values()
    except (TypeError, ValueError):
        return list(spec.differentiable)
    return [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
