"""Saying why a result is wrong: the known mistake it equals, or the exact shape of its error.

When a grading check fails, the failure's first line names the mistake when one is certain:

1. **A known mistake.** Each course keeps a catalogue of the mistakes students make, written as
   mutants of its oracle (``gradproof.grading.courses.<course>_mutants``: ``CATALOGUE``, a tuple of
   :class:`Mutant`). When the candidate's failing quantity equals exactly one mistake's (to the
   oracle's tolerance) on the failing example and on :data:`CONFIRMATIONS` more examples of the same
   sizes with fresh values, the line says which, and why it is wrong.
2. **The shape of the error** (:mod:`gradproof.core.residual`) on the same examples: a constant
   factor, a sign, a transpose, a term constant along an axis, wrong only where windows overlap or
   near a padded border; and, computed with the oracle, a backward that ignores ``dout`` (equal to
   the oracle's for ``dout = ones``) or keeps only the last batch element's contribution.

Nothing is said otherwise: a diagnosis is never a guess. It costs more calls of the candidate, so it
is made once per failure, on the run Hypothesis reports (not on each of its shrinking steps).
"""

from __future__ import annotations

import functools
import importlib
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis.control import current_build_context, currently_in_test_context

from gradproof.core import residual
from gradproof.core.checks import call_backward, call_forward, present
from gradproof.core.compare import tolerance_for
from gradproof.core.registry import Example
from gradproof.grading.binding import expect_tuple
from gradproof.grading.calls import Call
from gradproof.grading.executors import LocalExecutor
from gradproof.grading.units import BoundCache, bind

CONFIRMATIONS = 3
"""Examples with fresh values (the failing one's sizes and hyperparameters) a diagnosis must also
hold on: the failing example is shrunk, often to zeros and ones where many mistakes coincide."""
MORE_CONFIRMATIONS = 9
"""How many are drawn when none of the first ones shows the candidate wrong: a diagnosis needs a
fresh example on which the mistake shows (a pool's overlapping windows sharing their maximum is
rarer than one in three), or it would rest on the shrunk example alone."""


@dataclass(frozen=True)
class Mutant:
    """One known mistake in one unit (an op or optimizer of a course API).

    ``functions`` maps a function of the API to its mistaken version, called as ``fn(oracle, *args)``
    with the oracle's functions (for the course year) as ``oracle``: each a few lines over them.
    ``quantities`` are the results it explains (``"dx"``, ``"forward"``, ``"running_mean"``,
    ``"next_w"``); the failure line reads ``your <unit> <quantity> equals <says>: <why>``.
    """

    unit: str
    quantities: tuple[str, ...]
    functions: dict[str, Callable]
    says: str
    why: str

    def module(self, oracle) -> types.SimpleNamespace:
        """The oracle's functions, with this mistake's in place of the right ones."""
        names = {name: getattr(oracle, name) for name in dir(oracle) if not name.startswith("_")}
        names.update({name: functools.partial(fn, oracle) for name, fn in self.functions.items()})
        return types.SimpleNamespace(**names)

    def line(self, quantity: str) -> str:
        return f"your {self.unit} {quantity} equals {self.says}: {self.why}"


@dataclass(frozen=True)
class Catalogue:
    """A course's known mistakes, and what naming a residual needs of its ops: ``sizes(op,
    example) -> dict`` of named sizes and hyperparameters, ``windows(op, example) -> Windows or
    None`` for the gradient of a windowed input."""

    mutants: tuple[Mutant, ...] = ()
    sizes: Callable[[str, Example], dict] | None = None
    windows: Callable[[str, Example], residual.Windows | None] | None = None


@functools.cache
def catalogue(api_name: str) -> Catalogue:
    try:
        module = importlib.import_module(f"gradproof.grading.courses.{api_name}_mutants")
    except ModuleNotFoundError:
        return Catalogue()
    return module.catalogue()


def reported() -> bool:
    """Whether this failure is the one shown: outside a Hypothesis test, or its final run (the
    shrunk example, run once more to be reported)."""
    return not currently_in_test_context() or current_build_context().is_final


def first_line(text: str | None) -> str:
    return f"{text}\n" if text else ""


# -- the examples of a diagnosis ----------------------------------------------------------------------


def confirmations(example: Example, count: int = CONFIRMATIONS) -> list[Example]:
    """``example`` and ``count`` more of its sizes and hyperparameters, each float array redrawn
    (standard normal; positive where the original is, as a running variance is). Integer arrays
    (labels) are kept."""
    examples = [example.copy()]
    for seed in range(count):
        rng = np.random.default_rng(seed)
        inputs = {}
        for name, value in example.inputs.items():
            value = np.asarray(value)
            if np.issubdtype(value.dtype, np.floating) and value.size:
                draw = rng.standard_normal(value.shape)
                if np.all(value > 0):
                    draw = 0.5 + np.abs(draw)
                inputs[name] = draw.astype(value.dtype)
            else:
                inputs[name] = value.copy()
        examples.append(Example(inputs, dict(example.hparams)))
    return examples


def _dout(seed: int, shape) -> np.ndarray:
    # As check_backward draws it, so that the failing example's result is the one the check saw.
    return np.random.default_rng(seed).standard_normal(shape)


@dataclass
class _Run:
    example: Example
    dout: np.ndarray | None
    candidate_out: np.ndarray
    values: dict
    """quantity -> the candidate's value."""
    expected: dict
    """quantity -> the oracle's value."""


def _quantities(out, cache, grads=None) -> dict:
    values = {"forward": np.asarray(out)}
    values.update({key: np.asarray(v) for key, v in getattr(cache, "extras", {}).items()})
    for name, grad in (grads or {}).items():
        if grad is not None:
            values[f"d{name}"] = np.asarray(grad)
    return values


def _gradients(spec, dout, cache, example: Example) -> dict:
    grads = call_backward(spec, dout.copy(), cache, example)
    return {name: grads[name] for name in present(spec, example) if name in grads}


def _backward_cache(binding, example: Example, cache):
    """The cache a backward is graded from, as check_backward hands it: the one the API documents,
    made from the example, where there is one; else the forward's own."""
    if binding.documented_cache is None:
        return cache
    shapes = [np.shape(a) for a in example.inputs.values()]
    return BoundCache(binding.documented_cache(example.copy()), getattr(cache, "extras", {}), shapes)


def _run(spec, binding, example: Example, dout, candidate_out) -> dict:
    """An oracle's (or a mutant's) forward, and backward for ``dout``, on ``example`` as the oracle
    gets it (with the candidate's dropout mask), as quantity -> value."""
    out, cache = call_forward(spec, binding.oracle_example(example, candidate_out))
    grads = (
        None if dout is None else _gradients(spec, dout, _backward_cache(binding, example, cache), example)
    )
    return _quantities(out, cache, grads)


def _candidate_runs(graded, example: Example, seed: int, backward: bool, count: int) -> list[_Run]:
    """The candidate's and the oracle's results on ``example`` and ``count`` confirmations, each
    backward for an upstream gradient drawn as check_backward draws it."""
    runs = []
    for index, ex in enumerate(confirmations(example, count)):
        if backward and graded.binding.documented_cache is not None:
            # As check_backward: the backward is graded on its own, from the documented cache.
            out, cache = call_forward(graded.oracle, ex.copy())
            values, dout = {}, None
        else:
            out, cache = call_forward(graded.spec, ex.copy())
            values, dout = _quantities(out, cache), None
        if backward:
            expected_out, _ = call_forward(graded.oracle, graded.binding.oracle_example(ex, out))
            dout = _dout(seed if index == 0 else seed + index, expected_out.shape)
            grads = _gradients(graded.spec, dout, _backward_cache(graded.binding, ex, cache), ex)
            values.update(_quantities(out, cache, grads))
        expected = _run(graded.oracle, graded.binding, ex, dout, out)
        runs.append(_Run(ex, dout, out, values, expected))
    return runs


def _wrong_on_fresh_values(runs: list[_Run], quantity: str, tol) -> bool:
    return any(
        quantity not in run.expected or not residual.equal(run.values[quantity], run.expected[quantity], tol)
        for run in runs[1:]
    )


# -- ops ----------------------------------------------------------------------------------------------


def explain_op(graded, example: Example, seed: int, quantity: str) -> str:
    """The first line naming why ``graded``'s ``quantity`` (``"forward"``, ``"dx"``,
    ``"running_mean"``) is wrong on ``example``, or ``""``."""
    if not reported():
        return ""
    try:
        return first_line(_explain_op(graded, example, seed, quantity))
    except Exception:
        # A candidate that crashes, hangs or returns nonsense on the confirmation examples gets no
        # diagnosis; the check's own message stands, and grading goes on.
        return ""


def _explain_op(graded, example: Example, seed: int, quantity: str) -> str | None:
    backward = quantity[1:] in graded.binding.differentiable and graded.binding.backward is not None
    tol = graded.spec.tolerance("oracle")
    runs = _candidate_runs(graded, example, seed, backward, CONFIRMATIONS)
    if any(quantity not in run.values for run in runs):
        return None
    if not _wrong_on_fresh_values(runs, quantity, tol):
        runs = _candidate_runs(graded, example, seed, backward, MORE_CONFIRMATIONS)
        if not _wrong_on_fresh_values(runs, quantity, tol):
            return None  # wrong on the shrunk example alone: too little to name anything by
    oracle = graded.local.module
    found = catalogue(graded.api.name)
    matches = []
    for mutant in found.mutants:
        if mutant.unit != graded.unit or quantity not in mutant.quantities:
            continue
        mutant_spec = _bind_to(graded, LocalExecutor(mutant.module(oracle)))
        if _equals_everywhere(mutant_spec, graded, runs, quantity, tol):
            matches.append(mutant)
    lines = {mutant.line(quantity) for mutant in matches}
    if len(lines) == 1:
        return lines.pop()
    # None matches, or two mistakes agree on every example (naming one would be a guess): what is
    # exact about the error may still be said.
    return _shape_of_error(graded, runs, quantity, tol, found)


def _bind_to(graded, executor):
    return bind(graded.binding, executor)


def _equals_everywhere(spec, graded, runs: list[_Run], quantity: str, tol) -> bool:
    for run in runs:
        try:
            values = _run(spec, graded.binding, run.example, run.dout, run.candidate_out)
        except Exception:  # a mutant that cannot run here explains nothing here
            return False
        if quantity not in values or not residual.equal(run.values[quantity], values[quantity], tol):
            return False
    return True


def _shape_of_error(graded, runs: list[_Run], quantity: str, tol, found: Catalogue) -> str | None:
    cases = []
    for run in runs:
        expected = run.expected
        if quantity not in expected:
            return None
        got = run.values[quantity]
        sizes = _sizes(graded.unit, run.example, found)
        windows = None
        first = next(iter(run.example.inputs.values()))
        if found.windows is not None and quantity == f"d{next(iter(run.example.inputs))}":
            windows = found.windows(graded.unit, run.example)
            if windows is not None and np.shape(got) != np.shape(first):
                windows = None
        cases.append(residual.Case(got, expected[quantity], sizes, windows))
    name = f"your {graded.unit} {quantity}"
    text = residual.describe(name, cases, tol)
    if text or not quantity.startswith("d") or runs[0].dout is None:
        return text
    if _all_equal(graded, runs, quantity, tol, lambda run: np.ones_like(run.dout)):
        return (
            f"{name} equals the reference's for an upstream gradient of ones: your backward does "
            "not use dout (it differentiates the sum of the outputs)"
        )
    if _last_batch_element(graded, runs, quantity, tol):
        return (
            f"{name} equals the reference's for the last example of the batch alone: the other "
            "examples' contributions are overwritten (=) where they must add up (+=)"
        )
    return None


def _sizes(unit: str, example: Example, found: Catalogue) -> dict:
    if found.sizes is not None:
        return found.sizes(unit, example)
    first = next(iter(example.inputs.values()))
    return {"N": first.shape[0]} if np.ndim(first) else {}


def _all_equal(graded, runs, quantity, tol, dout_of) -> bool:
    for run in runs:
        values = _run(graded.oracle, graded.binding, run.example, dout_of(run), run.candidate_out)
        if quantity not in values or not residual.equal(run.values[quantity], values[quantity], tol):
            return False
    return True


def _last_batch_element(graded, runs, quantity, tol) -> bool:
    """The candidate's gradient of a parameter (no batch axis) equals the oracle's for the batch
    cut to its last example: the first input is cut, and integer inputs of the batch's length (the
    labels); weights are not, even where a size of theirs happens to equal the batch's."""
    for run in runs:
        first = next(iter(run.example.inputs.values()))
        n = np.shape(first)[0] if np.ndim(first) else 0
        got = run.values[quantity]
        if n < 2 or (np.ndim(got) and np.shape(got)[0] == n):
            return False
        first_name = next(iter(run.example.inputs))
        inputs = {
            name: value[-1:]
            if name == first_name or (np.ndim(value) and np.shape(value)[0] == n and value.dtype.kind in "iu")
            else value
            for name, value in run.example.inputs.items()
        }
        last = Example(inputs, dict(run.example.hparams))
        out = run.candidate_out[-1:] if np.ndim(run.candidate_out) else run.candidate_out
        try:
            values = _run(graded.oracle, graded.binding, last, run.dout[-1:], out)
        except Exception:  # an op that cannot take one example (batch norm)
            return False
        if quantity not in values or not residual.equal(got, values[quantity], tol):
            return False
    return True


# -- optimizers ---------------------------------------------------------------------------------------


def trajectory(binding, executor, w: np.ndarray, grads: list, config: dict) -> list[tuple]:
    """``(next_w, config)`` after each step of ``binding``'s update run through ``executor``."""
    steps, w_now, config_now = [], w.copy(), dict(config)
    for step, dw in enumerate(grads, start=1):
        if binding.call is None:
            call = Call(binding.fn, (w_now.copy(), dw.copy(), dict(config_now)))
        else:
            call = binding.call(w_now.copy(), dw.copy(), dict(config_now), step)
        value = executor.invoke(call).value
        if binding.unpack is None:
            w_now, config_now = expect_tuple(value, 2, binding.fn, "next_w, config")
        else:
            w_now, config_now = binding.unpack(value, dict(config_now))
        w_now = np.asarray(w_now, dtype=np.float64)
        steps.append((w_now, dict(config_now)))
    return steps


def _same_trajectory(ours: list, theirs: list, state: tuple[str, ...], tol) -> bool:
    if len(ours) != len(theirs):
        return False
    for (w_a, config_a), (w_b, config_b) in zip(ours, theirs, strict=True):
        if not _nan_equal(w_a, w_b, tol):
            return False
        for key in state:
            if key not in config_a or key not in config_b:
                return False
            if not _nan_equal(np.asarray(config_a[key], float), np.asarray(config_b[key], float), tol):
                return False
    return True


def _nan_equal(a, b, tol) -> bool:
    """Equal within ``tol``, NaN and infinity where both have them (Adam dividing by zero)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    finite = np.isfinite(a) & np.isfinite(b)
    same_special = (np.isnan(a) & np.isnan(b)) | (~np.isnan(a) & ~finite & (a == b))
    return bool(np.all(np.where(finite, residual.close(a, b, tol), same_special)))


def explain_optimizer(graded, w: np.ndarray, grads: list, config: dict) -> str:
    """The first line naming the known mistake ``graded``'s update rule makes, or ``""``."""
    if not reported():
        return ""
    try:
        return first_line(_explain_optimizer(graded, w, grads, config))
    except Exception:  # as explain_op: no diagnosis, the check's message stands
        return ""


def _explain_optimizer(graded, w, grads, config) -> str | None:
    binding, tol = graded.binding, tolerance_for("oracle", np.float64, ())
    examples = [(w, grads)]
    for seed in range(CONFIRMATIONS):
        rng = np.random.default_rng(seed)
        steps = max(len(grads), 3)
        examples.append((rng.standard_normal(w.shape), [rng.standard_normal(w.shape) for _ in range(steps)]))
    theirs = [trajectory(binding, graded.executor, w0, g, config) for w0, g in examples]
    oracle = graded.local.module
    lines = set()
    for mutant in catalogue(graded.api.name).mutants:
        if mutant.unit != graded.unit:
            continue
        executor = LocalExecutor(mutant.module(oracle))
        try:
            ours = [trajectory(binding, executor, w0, g, config) for w0, g in examples]
        except Exception:  # a mutant that cannot run here explains nothing here
            continue
        if all(_same_trajectory(a, b, binding.state, tol) for a, b in zip(ours, theirs, strict=True)):
            lines.add(mutant.line(mutant.quantities[0]))
    return lines.pop() if len(lines) == 1 else None
