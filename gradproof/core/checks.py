"""The checks behind every property, written once for any op spec.

Each check takes an :class:`~gradproof.core.registry.OpSpec`, one drawn
:class:`~gradproof.core.registry.Example` and a seed for its own random draws, and raises
``AssertionError`` with a message that names the op, the quantity (forward, dx, dw, ...), the
example's shapes and hyperparameters, and the worst element. To check an implementation other than
the reference, replace its functions in the spec: ``dataclasses.replace(spec, forward=f, backward=b)``.
"""

from __future__ import annotations

import numpy as np

from gradproof.core.compare import as_array, assert_close, assert_finite, format_index
from gradproof.core.fd import EPS, directional_slopes, elementwise_slopes, random_direction, scalarize
from gradproof.core.kinks import how_to_declare
from gradproof.core.registry import Example, OpSpec

DIRECTIONS = 2
"""Random directions per input in the directional check."""

FULL_CHECK_MAX_SIZE = 64
"""Inputs up to this many elements are also checked element by element on every example."""

LOCALISE_MAX_SIZE = 20_000
"""A directional failure is localised by a full check when the input is at most this large."""


class CallFailed(AssertionError):
    """A call of the implementation under test failed: it raised, timed out, or (for a candidate run
    in another process) its process died. The checks turn it into a failed check of that op."""


class KinkCrossed(AssertionError):
    """The finite-difference step straddled a point where the forward is not differentiable."""


class UndeclaredKink(AssertionError):
    """The forward is not differentiable at an example of an op that declares no kinks there."""


def _kink_advice(spec: OpSpec, name: str, value: float | None = None) -> str:
    """What a kink message ends with: the kinks the op declares, or how to declare them."""
    advice = how_to_declare(name, value)
    if spec.kinks is None:
        return f"{spec.name} declares no kinks; if this one is the op's own, {advice}"
    return f"{spec.name} declares kinks at {spec.kinks.where}; if this one is elsewhere, {advice}"


def call_forward(spec: OpSpec, example: Example, context: str = ""):
    """``spec.forward`` on ``example``, checked to return ``(out, cache)`` with an array ``out``."""
    __tracebackhide__ = True
    try:
        result = spec.forward(*example.inputs.values(), **example.hparams)
    except CallFailed as exc:  # a candidate's forward raised, hung or crashed in its process
        raise AssertionError(f"{spec.name} forward: {exc}\n{context}") from None
    if not isinstance(result, tuple) or len(result) != 2:
        length = f" of length {len(result)}" if isinstance(result, tuple) else ""
        raise AssertionError(
            f"{spec.name} forward: returned {type(result).__name__}{length}, expected a tuple (out, cache)\n"
            f"{context}"
        )
    out, cache = result
    return as_array(out, f"{spec.name} forward", context), cache


def present(spec: OpSpec, example: Example) -> tuple[str, ...]:
    """The differentiable inputs this example has (an optional input such as a bias may be absent)."""
    return tuple(name for name in spec.differentiable if name in example.inputs)


def call_backward(spec: OpSpec, dout: np.ndarray, cache, example: Example, context: str = "") -> dict:
    """``spec.backward(dout, cache)`` as a mapping from input name to gradient.

    The backward returns one gradient per name of ``spec.differentiable``, in order, with ``None``
    for an optional input the example does not have; or only those of the inputs it has.
    """
    __tracebackhide__ = True
    names = present(spec, example)
    try:
        grads = spec.backward(dout, cache)
    except CallFailed as exc:
        raise AssertionError(f"{spec.name} backward: {exc}\n{context}") from None
    if len(spec.differentiable) == 1 and not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if isinstance(grads, (tuple, list)) and len(grads) == len(spec.differentiable) != len(names):
        grads = [grad for name, grad in zip(spec.differentiable, grads, strict=True) if name in names]
    expected = ", ".join(f"d{name}" for name in names)
    if not isinstance(grads, (tuple, list)) or len(grads) != len(names):
        got = f"{len(grads)} values" if isinstance(grads, (tuple, list)) else type(grads).__name__
        raise AssertionError(
            f"{spec.name} backward: returned {got}, expected {len(names)} gradients ({expected})\n{context}"
        )
    return {
        name: as_array(grad, f"{spec.name} d{name}", context) for name, grad in zip(names, grads, strict=True)
    }


def _context(example: Example, extra: str) -> str:
    lines = [f"  example: {example.describe()}"]
    if extra:
        lines.append(extra)
    return "\n".join(lines)


def _require_shape(spec: OpSpec, name: str, grad: np.ndarray, example: Example, context: str) -> None:
    __tracebackhide__ = True
    shape = example.inputs[name].shape
    if grad.shape != shape:
        raise AssertionError(
            f"{spec.name} d{name}: backward returned shape {grad.shape}, but input {name} has shape {shape}\n"
            f"{context}"
        )


def check_gradients(
    spec: OpSpec,
    example: Example,
    *,
    seed: int,
    directions: int = DIRECTIONS,
    full: bool | None = None,
    context: str = "",
    out_shape: tuple[int, ...] | None = None,
) -> None:
    r"""Backward must equal finite differences of the *same* forward.

    ``out_shape``: the shape the forward's output must have (a grader's reference's), checked
    before any array of that shape is made. Draws an upstream gradient :math:`v`, then for every
    differentiable input runs the directional
    check along ``directions`` random unit directions, and the full element-wise check when the
    input has at most :data:`FULL_CHECK_MAX_SIZE` elements (or always / never, with ``full``).
    A directional failure is localised by the full check, so the message names an element.
    """
    __tracebackhide__ = True
    example = example.copy()
    text = _context(example, context) + f"\n  upstream gradient dout: standard normal, seed {seed}"
    if spec.kink_distance is not None:
        distance = spec.kink_distance(example)
        if not distance > 2 * EPS:
            raise ValueError(
                f"{spec.name}: its examples strategy drew an example {distance:g} from a kink "
                f"({spec.kinks.where}), inside the finite-difference step {EPS:g}; the strategy must keep a "
                f"margin: spec.kinks.keep_away(examples), or gradproof.core.strategies.away_from, "
                f"distinct_values\n{text}"
            )
    rng = np.random.default_rng(seed)
    out, cache = call_forward(spec, example, text)
    if out_shape is not None and out.shape != tuple(out_shape):
        # The upstream gradient and the probes take the shape the caller expects (a reference's),
        # never one the forward chose.
        raise AssertionError(
            f"{spec.name} forward: returned shape {out.shape}, expected {tuple(out_shape)}; the backward "
            f"cannot be judged against a forward of another shape\n{text}"
        )
    v = rng.standard_normal(out.shape)
    grads = call_backward(spec, v.copy(), cache, example, text)
    g = scalarize(spec.forward, example.inputs, example.hparams, v)
    g0 = float(np.sum(v * out.astype(np.float64)))
    tol = spec.tolerance("fd")

    for name in present(spec, example):
        grad = grads[name]
        _require_shape(spec, name, grad, example, text)
        size = example.inputs[name].size
        for _ in range(directions):
            u = random_direction(rng, grad.shape)
            slopes = directional_slopes(g, example.inputs, name, u, g0)
            analytic = float(np.sum(grad.astype(np.float64) * u))
            # The tolerance an element-wise comparison would grant each element, carried along u.
            allowed = tol.atol * np.sum(np.abs(u)) + tol.rtol * np.sum(np.abs(grad) * np.abs(u))
            if abs(slopes.central - analytic) > allowed:
                if size <= LOCALISE_MAX_SIZE:
                    _full_check(spec, name, grad, g, g0, example, text)
                if slopes.kinked(tol):
                    raise KinkCrossed(
                        f"{spec.name} d{name}: kink crossed along a random direction u, not a wrong "
                        f"gradient: the central slope {float(slopes.central):.6g} disagrees with both "
                        f"one-sided slopes (behind {float(slopes.behind):.6g}, "
                        f"ahead {float(slopes.ahead):.6g}); "
                        f"{name} has {size} elements, too many to say which one sits on the kink; "
                        f"{_kink_advice(spec, name)}\n{text}"
                    )
                raise AssertionError(
                    f"{spec.name} d{name}: backward disagrees with finite differences along a random "
                    f"direction u: <d{name}, u> = {analytic:.10g}, slope of the forward along u = "
                    f"{float(slopes.central):.10g} (allowed error {allowed:.3g})\n{text}"
                )
        if full or (full is None and size <= FULL_CHECK_MAX_SIZE):
            _full_check(spec, name, grad, g, g0, example, text)


def _full_check(spec, name, grad, g, g0, example, text) -> None:
    __tracebackhide__ = True
    tol = spec.tolerance("fd")
    slopes = elementwise_slopes(g, example.inputs, name, g0)
    kinked = slopes.kinked(tol)
    # Elements where the step crossed a kink say nothing about the gradient: judge the others first,
    # by standing the numerical value in for the backward's there.
    assert_close(
        np.where(kinked, slopes.central, grad),
        slopes.central,
        tol=tol,
        quantity=f"{spec.name} d{name}",
        context=text,
        got_label="backward",
        expected_label="finite differences",
    )
    allowed = tol.atol + tol.rtol * np.abs(slopes.central)
    crossed = kinked & (np.abs(grad - slopes.central) > allowed)
    if crossed.any():
        at = tuple(np.argwhere(crossed)[0]) if crossed.ndim else ()
        raise KinkCrossed(
            f"{spec.name} d{name}: kink crossed at {name}{format_index(at)}, not a wrong gradient: the "
            f"central difference {slopes.central[at]:.6g} disagrees with both one-sided slopes (behind "
            f"{slopes.behind[at]:.6g}, ahead {slopes.ahead[at]:.6g}), so the step {EPS:g} straddles a point "
            f"where the forward is not differentiable and cannot judge the backward's {grad[at]:.6g} there "
            f"({int(crossed.sum())} such elements); {_kink_advice(spec, name)}\n{text}"
        )


def check_differentiable_at(
    spec: OpSpec, example: Example, *, seed: int, directions: int = DIRECTIONS, context: str = ""
) -> None:
    r"""The forward must be differentiable at ``example``: raises :class:`UndeclaredKink` where it is
    not, whatever the backward says.

    For every floating differentiable input, the one-sided difference quotients of
    :math:`g = \langle v, f \rangle` must agree: along every coordinate axis for inputs of at most
    :data:`FULL_CHECK_MAX_SIZE` elements (so the message names the element), along ``directions``
    random directions for larger ones. A check of the backward cannot see a kink where the backward
    happens to return the average of the two slopes (``sign(0) = 0`` for ``|x|``); this one can.
    Run it on an op that declares no kinks, at examples snapped to simple values
    (:func:`gradproof.core.kinks.snapped`), where undeclared kinks hide.

    Curvature alone makes the one-sided slopes differ by about :math:`\epsilon g''`, which can pass
    the tolerance where :math:`g''` is large (a log near 1); so the slopes are taken at two steps, and
    only a disagreement that does not shrink with the step is a kink.
    """
    __tracebackhide__ = True
    example = example.copy()
    text = _context(example, context) + f"\n  upstream gradient dout: standard normal, seed {seed}"
    rng = np.random.default_rng(seed)
    out, _ = call_forward(spec, example, text)
    v = rng.standard_normal(out.shape)
    g = scalarize(spec.forward, example.inputs, example.hparams, v)
    g0 = float(np.sum(v * out.astype(np.float64)))
    tol = spec.tolerance("fd")
    for name in present(spec, example):
        x = example.inputs[name]
        if not np.issubdtype(x.dtype, np.floating) or x.size == 0:
            continue
        if x.size <= FULL_CHECK_MAX_SIZE:
            wide, narrow = (elementwise_slopes(g, example.inputs, name, g0, eps) for eps in KINK_STEPS)
            jumps = _jumps(wide, narrow, tol)
            if jumps.any():
                at = tuple(np.argwhere(jumps)[0]) if jumps.ndim else ()
                behind, ahead = narrow.behind[at], narrow.ahead[at]
                raise UndeclaredKink(
                    f"{spec.name} d{name}: kink at {name}{format_index(at)} = {float(x[at]):.6g}: the slope "
                    f"of <dout, forward> there is {behind:.6g} from behind and {ahead:.6g} ahead, at steps "
                    f"{KINK_STEPS[0]:g} and {KINK_STEPS[1]:g} alike ({int(jumps.sum())} such elements); "
                    f"{_kink_advice(spec, name, float(x[at]))}\n{text}"
                )
            continue
        for _ in range(directions):
            u = random_direction(rng, x.shape)
            wide, narrow = (directional_slopes(g, example.inputs, name, u, g0, eps) for eps in KINK_STEPS)
            if _jumps(wide, narrow, tol):
                raise UndeclaredKink(
                    f"{spec.name} d{name}: kink along a random direction u: the slope of <dout, forward> is "
                    f"{float(narrow.behind):.6g} from behind and {float(narrow.ahead):.6g} ahead, at steps "
                    f"{KINK_STEPS[0]:g} and {KINK_STEPS[1]:g} alike; {name} has {x.size} elements, too many "
                    f"to say which one sits on it; {_kink_advice(spec, name)}\n{text}"
                )


KINK_STEPS = (EPS, EPS / 10)
"""The two steps :func:`check_differentiable_at` compares: curvature's share of the one-sided slopes'
disagreement shrinks tenfold from one to the other, a kink's does not."""


def _jumps(wide, narrow, tol) -> np.ndarray:
    """Where the one-sided slopes disagree beyond the tolerance (as in ``Slopes.kinked``: the central
    slope, their mean, disagrees with both) at the narrow step, by at least half as much as at the
    wide one."""
    allowed = tol.atol + tol.rtol * np.abs(narrow.central)
    gap_wide, gap_narrow = np.abs(wide.ahead - wide.behind), np.abs(narrow.ahead - narrow.behind)
    return (gap_narrow > 2 * allowed) & (gap_narrow > 0.5 * gap_wide)


def _twin_inputs(spec: OpSpec, example: Example):
    import torch

    tensors = []
    for name, value in example.inputs.items():
        tensor = torch.from_numpy(value.copy())
        if name in spec.differentiable:
            tensor.requires_grad_(True)
        tensors.append(tensor)
    return tensors


def check_against_twin(spec: OpSpec, example: Example, *, seed: int, context: str = "") -> None:
    """Forward and backward must equal the PyTorch twin's forward and autograd gradients."""
    __tracebackhide__ = True
    import torch

    example = example.copy()
    text = _context(example, context)
    tol = spec.tolerance("oracle", np.float64)
    tensors = _twin_inputs(spec, example)
    out_twin = spec.twin(*tensors, **example.hparams)
    out, cache = call_forward(spec, example, text)
    assert_close(
        out,
        out_twin.detach().numpy(),
        tol=tol,
        quantity=f"{spec.name} forward",
        context=text,
        got_label="forward",
        expected_label="torch",
    )
    v = np.random.default_rng(seed).standard_normal(out.shape)
    by_name = dict(zip(example.inputs, tensors, strict=True))
    names = present(spec, example)
    wrt = [by_name[name] for name in names]
    grads_twin = torch.autograd.grad(out_twin, wrt, grad_outputs=torch.from_numpy(v), allow_unused=True)
    grads = call_backward(spec, v.copy(), cache, example, text)
    for name, grad_twin in zip(names, grads_twin, strict=True):
        expected = np.zeros(example.inputs[name].shape) if grad_twin is None else grad_twin.numpy()
        assert_close(
            grads[name],
            expected,
            tol=tol,
            quantity=f"{spec.name} d{name}",
            context=text,
            got_label="backward",
            expected_label="torch autograd",
        )


def check_against_twin_at_kinks(spec: OpSpec, example: Example, *, seed: int, context: str = "") -> None:
    """:func:`check_against_twin` on ``example`` moved onto the op's kinks (``spec.kinks.onto``, with
    ``seed``): the reference's convention where the derivative does not exist must be the twin's."""
    __tracebackhide__ = True
    if spec.kinks is None or spec.kinks.onto is None:
        raise ValueError(f"{spec.name}: declares no kinks to move onto ({_kink_advice(spec, 'x')})")
    on_kink = spec.kinks.onto(example.copy(), np.random.default_rng(seed))
    moved = f"  moved onto its kinks ({spec.kinks.where}) with seed {seed}"
    check_against_twin(spec, on_kink, seed=seed, context=f"{moved}\n{context}" if context else moved)


def check_backward_linearity(spec: OpSpec, example: Example, *, seed: int, context: str = "") -> None:
    r"""Backward must be linear in the upstream gradient, for one cache:
    :math:`B(a v_1 + b v_2) = a B(v_1) + b B(v_2)`. Also catches a backward that changes its cache."""
    __tracebackhide__ = True
    example = example.copy()
    text = _context(example, context)
    rng = np.random.default_rng(seed)
    out, cache = call_forward(spec, example, text)
    v1, v2 = rng.standard_normal(out.shape), rng.standard_normal(out.shape)
    a, b = rng.uniform(-2.0, 2.0, size=2)
    g1 = call_backward(spec, v1.copy(), cache, example, text)
    g2 = call_backward(spec, v2.copy(), cache, example, text)
    mixed = call_backward(spec, a * v1 + b * v2, cache, example, text)
    for name in present(spec, example):
        _require_shape(spec, name, mixed[name], example, text)
        assert_close(
            mixed[name],
            a * g1[name] + b * g2[name],
            tol=spec.tolerance("oracle", np.float64),
            quantity=f"{spec.name} d{name}",
            context=f"{text}\n  a = {a:.6g}, b = {b:.6g}",
            # a*g1 + b*g2 can cancel to nearly nothing; its rounding error is set by the terms.
            scale=np.abs(a * g1[name]) + np.abs(b * g2[name]),
            got_label="backward(a*v1 + b*v2)",
            expected_label="a*backward(v1) + b*backward(v2)",
        )


def check_contracts(spec: OpSpec, example: Example, *, seed: int, context: str = "") -> None:
    """Inputs are never mutated; outputs and gradients are finite arrays of the documented shapes and
    dtypes; the same call twice gives the same result. An op with a forward only (``spec.backward``
    None: the Coursera notebook's ``zero_pad``) is held to the forward's half."""
    __tracebackhide__ = True
    pristine = example.copy()
    working = example.copy()
    text = _context(pristine, context)
    tol = spec.tolerance("oracle", np.float64)

    def require_unmutated(stage: str) -> None:
        __tracebackhide__ = True
        for name, original in pristine.inputs.items():
            now = working.inputs[name]
            if now.shape != original.shape or not np.array_equal(now, original, equal_nan=True):
                whose = " (the forward's, reached through the cache)" if stage == "backward" else ""
                changed = f"mutated its input {name}{whose}: the caller's array is changed"
                raise AssertionError(f"{spec.name} {stage}: {changed}\n{text}")

    out, cache = call_forward(spec, working, text)
    require_unmutated("forward")
    float_inputs = [v.dtype for v in pristine.inputs.values() if np.issubdtype(v.dtype, np.floating)]
    dtype = np.result_type(*float_inputs) if float_inputs else np.dtype(np.float64)
    if out.dtype != dtype:
        raise AssertionError(f"{spec.name} forward: output has dtype {out.dtype}, expected {dtype}\n{text}")
    assert_finite(out, quantity=f"{spec.name} forward", context=text)
    again, _ = call_forward(spec, example.copy(), text)
    assert_close(
        again,
        out,
        tol=tol,
        quantity=f"{spec.name} forward, second call",
        context=text,
        got_label="second call",
        expected_label="first call",
    )

    if spec.backward is None:
        return
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dout_sent = dout.copy()
    grads = call_backward(spec, dout_sent, cache, working, text)
    if not np.array_equal(dout_sent, dout):
        raise AssertionError(f"{spec.name} backward: mutated its upstream gradient dout\n{text}")
    require_unmutated("backward")
    again = call_backward(spec, dout.copy(), cache, working, text)
    for name in present(spec, pristine):
        grad, expected_input = grads[name], pristine.inputs[name]
        _require_shape(spec, name, grad, pristine, text)
        if grad.dtype != expected_input.dtype:
            raise AssertionError(
                f"{spec.name} d{name}: has dtype {grad.dtype}, but input {name} has dtype "
                f"{expected_input.dtype}\n{text}"
            )
        assert_finite(grad, quantity=f"{spec.name} d{name}", context=text, label="backward")
        assert_close(
            again[name],
            grad,
            tol=tol,
            quantity=f"{spec.name} d{name}, second call",
            context=text,
            got_label="second call",
            expected_label="first call",
        )
