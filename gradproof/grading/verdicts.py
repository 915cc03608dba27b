"""The grading checks: a candidate's forward, backward and optimizer steps against its API's oracle,
with messages in the candidate's own terms (the contracts and the finite-difference check are the
core's, applied to the candidate's spec unchanged)."""

from __future__ import annotations

import numpy as np

from gradproof.core.checks import (
    CallFailed,
    KinkCrossed,
    call_backward,
    call_forward,
    check_gradients,
    present,
)
from gradproof.core.compare import as_array, assert_close, tolerance_for
from gradproof.core.fd import EPS
from gradproof.core.registry import Example
from gradproof.grading import diagnose
from gradproof.grading.binding import expect_tuple
from gradproof.grading.calls import Call
from gradproof.grading.executors import LocalExecutor
from gradproof.grading.units import BoundCache, GradedOp, GradedOptimizer


def _consistent_with_own_forward(graded: GradedOp, example: Example, seed: int) -> bool | None:
    """Whether the candidate's backward matches finite differences of its own forward (None when
    the step crossed a kink and cannot tell, or the example sits on one: a tie the comparison
    examples draw on purpose)."""
    if graded.spec.backward is None:
        return None  # an op with a forward only (zero_pad): there is no backward to judge
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


def _zeros(graded: GradedOp, function: str, position: int, quantity: str, got, expected) -> str:
    """A first line for a result of zeros where the reference's is not; "not implemented yet" only
    where ``function`` never computes its ``position``-th returned value (the template's
    ``dw = np.zeros_like(w)`` left as it was): code that computes zeros is wrong, not unfinished."""
    got, expected = np.asarray(got), np.asarray(expected)
    if not (got.shape == expected.shape and got.size and not np.any(got) and np.any(expected)):
        return ""
    if position in graded.placeholders.get(function, ()):
        return (
            f"{quantity}: returns all zeros: {function} never computes it (the template's placeholder "
            "is left as it was: not implemented yet)\n"
        )
    return f"{quantity}: returns all zeros where the reference's is not\n"


def _binding_checks(graded: GradedOp, example: Example, text: str) -> None:
    """The binding's checks of what a comparison with the oracle cannot see, before it: a dropout
    keeping the wrong fraction of units is told by its convention, not by the scale of the units
    it kept, in the forward's message and the backward's."""
    __tracebackhide__ = True
    for check in graded.binding.checks:
        check(graded.sides, example.copy(), text)


def check_forward(graded: GradedOp, example: Example, *, seed: int) -> None:
    """The candidate's forward, and what it leaves behind (running statistics), equal the oracle's."""
    __tracebackhide__ = True
    graded.executor.reset()
    text = f"  example: {example.describe()}\n{graded.context()}"
    spec = graded.spec
    tol = spec.tolerance("oracle")
    got, cache = call_forward(spec, example.copy(), text)
    _binding_checks(graded, example, text)
    expected, expected_cache = call_forward(graded.oracle, graded.binding.oracle_example(example, got), text)
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
        zeros = diagnose.explain_op(graded, example, seed, "forward") or _zeros(
            graded, graded.binding.functions[0], 0, f"{spec.name} forward", got, expected
        )
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
        try:
            assert_close(
                _held_to(graded, f"{spec.name} {quantity}", found, np.shape(value), text),
                value,
                tol=tol,
                quantity=f"{spec.name} {quantity}",
                context=text,
                got_label="yours",
                expected_label="reference",
            )
        except AssertionError as exc:
            raise AssertionError(f"{diagnose.explain_op(graded, example, seed, quantity)}{exc}") from None


def _held_to(graded: GradedOp, quantity: str, got: np.ndarray, wanted, text: str) -> np.ndarray:
    __tracebackhide__ = True
    try:
        return graded.shapes.accept(quantity, got, tuple(wanted))
    except CallFailed as exc:
        raise AssertionError(f"{exc}\n{text}") from None


def check_own_forward(graded: GradedOp, example: Example, *, seed: int) -> None:
    """The candidate's backward equals finite differences of its own forward (the core's check),
    once its forward's output has the reference's shape: every array the check builds (the upstream
    gradient, the probes) then has the shape the reference gives, never one the candidate chose."""
    __tracebackhide__ = True
    text = f"  example: {example.describe()}\n{graded.context()}"
    # The oracle's output shape does not depend on a random draw (dropout's mask): its own will do.
    expected, _ = call_forward(graded.oracle, example.copy(), text)
    # Along random directions, element by element only to localise a failure: the comparison with
    # the reference (check_backward) already judges every element, and this check's business is
    # the backward's consistency with the candidate's own forward (two thirds of a grade's time
    # went to element-wise differences of correct code).
    check_gradients(
        graded.spec, example, seed=seed, context=graded.context(), full=False, out_shape=expected.shape
    )


def check_backward(graded: GradedOp, example: Example, *, seed: int) -> None:
    """The candidate's backward equals the oracle's for the same upstream gradient.

    Where the API documents its cache (:attr:`Binding.documented_cache`), the backward gets that
    cache, built from the example, and is graded on its own. Otherwise the candidate's own forward
    makes the cache; when the forward is itself wrong, the message says so, since the backward is
    then judged from a wrong cache.
    """
    __tracebackhide__ = True
    graded.executor.reset()
    text = f"  example: {example.describe()}\n{graded.context()}"
    text += f"\n  upstream gradient dout: standard normal, seed {seed}"
    spec, oracle = graded.spec, graded.oracle
    if graded.binding.documented_cache is not None:
        text += "\n  cache: the one the API documents, made from the example's inputs"
        expected_out, expected_cache = call_forward(oracle, example.copy(), text)
        shapes = [np.shape(a) for a in example.inputs.values()]
        cache = BoundCache(graded.binding.documented_cache(example.copy()), {}, shapes)
        out = expected_out
    else:
        out, cache = call_forward(spec, example.copy(), text)
        _binding_checks(graded, example, text)
        expected_out, expected_cache = call_forward(oracle, graded.binding.oracle_example(example, out), text)
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
            if graded.binding.ties is not None:
                why = graded.binding.ties.explain(example.copy(), v.copy(), grads)
                if why and not graded.strict_ties:
                    # The course's own checks never produce a tie: its rule there is a convention
                    # the template leaves open, a note with no deduction unless --strict-ties.
                    graded.notes.setdefault(f"{spec.name} d{name} at ties", why)
                    continue
                if why:
                    raise AssertionError(f"{why} (deducted under --strict-ties)\n{exc}") from None
            # A named mistake before "all zeros": a shrunk example's zeros can come from a mistake.
            backward_fn, position = graded.binding.functions[-1], spec.differentiable.index(name)
            zeros = diagnose.explain_op(graded, example, seed, f"d{name}") or _zeros(
                graded, backward_fn, position, f"{spec.name} d{name}", grads[name], expected[name]
            )
            consistent = _consistent_with_own_forward(graded, example, seed)
            if consistent is None:
                raise AssertionError(f"{zeros}{exc}") from None
            verdict = "its backward is consistent with its own forward" if consistent else ALSO_WRONG
            raise AssertionError(f"{zeros}{exc}\n  {verdict}") from None


def check_optimizer(graded: GradedOptimizer, w: np.ndarray, grads: list, config: dict) -> None:
    """Every step's parameter and every state entry of the config equal the oracle's.

    When they do not, and the course's conventions changed over the years, the message says
    whether another year's oracle agrees (Adam's ``t`` starting at 1 in cs231n-2017).
    """
    __tracebackhide__ = True
    try:
        _trajectory(graded, graded.local, w, grads, config)
    except AssertionError as exc:
        for other in graded.convention.others(graded.unit) if graded.convention is not None else ():
            try:
                _trajectory(graded, LocalExecutor(graded.api.oracle_module(other)), w, grads, config)
            except AssertionError:
                continue
            raise AssertionError(
                f"{graded.binding.name}: matches the convention of {other.sharing(graded.unit)} "
                f"({other.rule(graded.unit)}), "
                f"not {graded.convention.name}'s: grade with --convention {other.name} if that is your "
                f"assignment's\n{exc}"
            ) from None
        raise AssertionError(f"{diagnose.explain_optimizer(graded, w, grads, config)}{exc}") from None


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
