r"""The joint directional check: random directions over all inputs at once, localised only on failure.

As in :mod:`gradproof.core.fd`, the backward pass is judged through the scalar
:math:`g(x) = \langle v, f(x) \rangle`. Here one random unit direction :math:`u` spans every
differentiable input together, so a direction costs two forward calls whatever the number of inputs,
and the check along it compares the slope of :math:`g` with :math:`\langle G, u \rangle`, ``G`` the
backward's gradients. The tolerance is the element-wise one carried along :math:`u`: with
:math:`t_i = atol + rtol\,|G_i|`, the direction passes when
:math:`|\mathrm{slope} - \langle G, u\rangle| \le T(u) = \sum_i t_i |u_i|`, so a gradient within the
element-wise tolerance everywhere always passes.

*Miss probability.* Let :math:`e = G - \nabla g` be the backward's error. Along a Gaussian direction
(the unit direction is one divided by its norm, which scales the error seen and the tolerance alike),
:math:`\langle e, u \rangle \sim N(0, |e|^2)`, while :math:`T(u)` stays near its mean
:math:`\sqrt{2/\pi} \sum_i t_i`. Write :math:`r = |e| / T` for how many times the allowed error the
error is. One direction misses it with probability :math:`P(|Z| \le 1/r) = \mathrm{erf}(1 / (r\sqrt 2))
\le \sqrt{2/\pi} / r`, and :math:`k` independent directions all miss it with probability
:func:`miss_probability` :math:`= \mathrm{erf}(1/(r\sqrt 2))^k`: for the default :math:`k = 3`, 4e-4 at
:math:`r = 10` and 5e-7 at :math:`r = 100`. ``tests/test_check_api.py`` measures it.

*Localisation*, only when a direction fails: the same direction restricted to each input says which
input carries the error, then group testing over blocks of that input's elements: the directional
error of a block is the sum of its halves', so following at every split the half whose error exceeds
its share of the tolerance the most reaches a wrong element in :math:`\lceil \log_2 n \rceil` splits,
four forward calls each, instead of the :math:`2n` of an element-wise check. Where several elements
are wrong it finds the one the largest errors lead to, which is not always the very worst.

*Precise mode* replaces the fixed-step central difference by Richardson extrapolation over
:data:`PRECISE_LEVELS` halving steps (Ridders' tableau), which removes the :math:`h^2, h^4, \dots`
truncation terms of a smooth forward, and the fixed ``rtol`` by the tableau's own error estimate: a
backward wrong by one part in :math:`10^6` fails it, where the default tolerance lets one part in
:math:`10^3` through. Where the tableau does not converge (the forward is not smooth within the
stencil), the direction is judged at the default tolerance and the outcome says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gradproof.core.checks import (
    KinkCrossed,
    _context,
    _kink_advice,
    _require_shape,
    call_backward,
    call_forward,
    present,
)
from gradproof.core.compare import Tolerance, assert_finite, format_index, mismatch
from gradproof.core.fd import EPS, Scalarized, Slopes
from gradproof.core.registry import Example, OpSpec

JOINT_DIRECTIONS = 3
"""Random directions over all inputs: a wrong gradient ten times the allowed error slips through all
three with probability 4e-4 (:func:`miss_probability`)."""

LOW_PRECISION_EPS = 1e-3
"""Step of the central differences when the forward computes in float32 even on float64 inputs: near
the cube root of float32's machine epsilon, where its truncation and rounding errors balance."""

PRECISE_H0 = 2.0**-11
"""Widest step of precise mode (about 4.9e-4): inside the 1e-3 margin the strategies keep from kinks,
and a power of two so that every halved step is exact."""

PRECISE_LEVELS = 4
"""Steps of precise mode: PRECISE_H0, PRECISE_H0 / 2, ..., two forward calls each."""

PRECISE_SAFETY = 10.0
"""How many times the tableau's error estimate a direction may be off in precise mode."""

PRECISE_TOL = Tolerance(atol=1e-12, rtol=1e-9)
"""The backward's own float64 rounding that precise mode allows, element-wise, on top of the estimate."""

ROUNDING_ULPS = 4
"""The rounding error allowed in each value of the scalar, in ulps of sum |v * out| + sum |v| max |x|
(the scale of the values a forward adds up)."""

NOISE_STEP = 1e-9
"""Precise mode measures the rounding noise of the scalar from second differences at this step: any
step changes the inputs' low bits, and so the rounding, while the curvature's share (step^2 g'') stays
far below the noise."""

NOISE_SAFETY = 4.0
"""How many times the measured noise of one value precise mode allows, over its smallest step, in a
slope: the tableau's weights amplify it up to about twice, and two probes may both come out small."""

NOT_SMOOTH = 1e-5
"""A tableau whose error estimate exceeds this share of the slope's magnitude has not converged: the
forward is not smooth within the stencil, and precise mode does not judge that direction."""


def miss_probability(ratio: float, directions: int = JOINT_DIRECTIONS) -> float:
    r"""The chance that ``directions`` random directions all pass a gradient error of norm ``ratio``
    times the allowed error: :math:`\mathrm{erf}(1 / (r \sqrt 2))^k` (see the module docstring).

    >>> round(miss_probability(10.0), 5)
    0.00041
    """
    if ratio <= 0:
        return 1.0
    return math.erf(1.0 / (ratio * math.sqrt(2.0))) ** directions


def typical_allowed(tol: Tolerance, grads: Mapping[str, np.ndarray]) -> float:
    r"""The allowed error along a standard Gaussian direction, on average:
    :math:`\sqrt{2/\pi} \sum_i (atol + rtol |G_i|)`; the :math:`T` of :func:`miss_probability`."""
    total = sum(tol.atol * grad.size + tol.rtol * float(np.sum(np.abs(grad))) for grad in grads.values())
    return math.sqrt(2.0 / math.pi) * total


@dataclass
class Outcome:
    """What a passing joint check did: forward calls (the first, unperturbed one included), directions,
    the largest share of its tolerance any direction used, and notes for the reader."""

    forward_calls: int
    directions: int
    worst_share: float
    precise: bool
    notes: list[str] = field(default_factory=list)


class _Counted(Scalarized):
    """The scalar of :mod:`gradproof.core.fd`, counting its evaluations and noticing a forward that
    returns a lower precision than float64 on float64 inputs."""

    calls = 0
    low_precision: np.dtype | None = None

    def _value(self, out) -> float:
        self.calls += 1
        dtype = np.asarray(out).dtype
        if np.issubdtype(dtype, np.floating) and np.finfo(dtype).bits < 64:
            self.low_precision = dtype
        return super()._value(out)


@dataclass
class _Measure:
    """Slopes of the scalar along directions over several inputs, by central differences or Richardson."""

    g: _Counted
    inputs64: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    g0: float
    magnitude: float  # sum |v * out| + sum |v| max |x|: the scale of g's rounding
    tol: Tolerance
    eps: float
    precise: bool
    not_smooth: list[int] = field(default_factory=list)
    measured_noise: float | None = None

    def noise(self) -> float:
        """The rounding noise of one value of the scalar, from the second differences
        :math:`g(x + s d) + g(x - s d) - 2 g(x)` at step :data:`NOISE_STEP` along two random directions
        (4 forward calls, once per check): their spread is the rounding's alone."""
        if self.measured_noise is None:
            rng = np.random.default_rng(0)
            shapes = {n: x.shape for n, x in self.inputs64.items()}
            points = [p for _ in range(2) for p in self._points(joint_direction(rng, shapes), NOISE_STEP)]
            values = self.g.many(points)
            # The second difference of three independent roundings of spread s has spread s * sqrt(6).
            self.measured_noise = max(
                abs(values[i] + values[i + 1] - 2 * self.g0) for i in range(0, len(values), 2)
            ) / math.sqrt(6)
        return self.measured_noise

    def _points(self, u: Mapping[str, np.ndarray], h: float) -> list[dict[str, np.ndarray]]:
        return [{n: self.inputs64[n] + s * h * d for n, d in u.items()} for s in (1.0, -1.0)]

    def _central(self, u) -> Slopes:
        plus, minus = self.g.many(self._points(u, self.eps))
        return Slopes(
            np.float64((plus - minus) / (2 * self.eps)),
            np.float64((plus - self.g0) / self.eps),
            np.float64((self.g0 - minus) / self.eps),
        )

    def _richardson(self, u) -> tuple[float, float, Slopes]:
        """Ridders' tableau over halving steps: the best extrapolated slope, the tableau's error estimate,
        and the plain slopes at the smallest step (for the kink test)."""
        steps = [PRECISE_H0 / 2**i for i in range(PRECISE_LEVELS)]
        values = self.g.many([point for h in steps for point in self._points(u, h)])
        table = [[(values[2 * i] - values[2 * i + 1]) / (2 * h)] for i, h in enumerate(steps)]
        best, error = table[0][0], math.inf
        for i in range(1, len(steps)):
            for j in range(1, i + 1):
                factor = 4.0**j
                table[i].append(table[i][j - 1] + (table[i][j - 1] - table[i - 1][j - 1]) / (factor - 1))
                estimate = max(abs(table[i][j] - table[i][j - 1]), abs(table[i][j] - table[i - 1][j - 1]))
                if estimate < error:
                    best, error = table[i][j], estimate
        h, plus, minus = steps[-1], values[-2], values[-1]
        slopes = Slopes(
            np.float64((plus - minus) / (2 * h)),
            np.float64((plus - self.g0) / h),
            np.float64((self.g0 - minus) / h),
        )
        return float(best), float(error), slopes

    def analytic(self, u) -> float:
        return float(sum(np.sum(self.grads[n] * d) for n, d in u.items()))

    def default_allowed(self, u) -> float:
        return float(
            sum(
                self.tol.atol * np.sum(np.abs(d)) + self.tol.rtol * np.sum(np.abs(self.grads[n]) * np.abs(d))
                for n, d in u.items()
            )
        )

    def error(self, u, label: int | None = None) -> tuple[float, float, float, Slopes]:
        """``(slope - <G, u>, allowed, slope, slopes)`` along ``u`` (any norm; measured along u / |u|)."""
        norm = math.sqrt(sum(float(np.sum(d * d)) for d in u.values()))
        if norm == 0:
            return 0.0, 0.0, 0.0, Slopes(np.float64(0), np.float64(0), np.float64(0))
        unit = {n: d / norm for n, d in u.items()}
        analytic = self.analytic(u)
        if self.precise:
            slope, estimate, slopes = self._richardson(unit)
            # The tableau's estimate covers truncation, and rounding where it shows between steps; this
            # covers an unlucky agreement of the steps' rounding. A forward's value can round far more
            # than its output's ulps (a cross-entropy of 3e-4 is a difference of values near 1), so the
            # noise is measured, not assumed.
            smallest = PRECISE_H0 / 2 ** (PRECISE_LEVELS - 1)
            rounding = max(self.rounding() * self.eps, NOISE_SAFETY * self.noise()) / smallest
            scale = abs(slope) + float(sum(np.sum(np.abs(self.grads[n] * d)) for n, d in unit.items()))
            if estimate <= NOT_SMOOTH * scale:
                allowed = (PRECISE_SAFETY * estimate + rounding) * norm + sum(
                    PRECISE_TOL.atol * np.sum(np.abs(d))
                    + PRECISE_TOL.rtol * np.sum(np.abs(self.grads[n] * d))
                    for n, d in u.items()
                )
                return slope * norm - analytic, float(allowed), slope * norm, _scaled(slopes, norm)
            if label is not None:
                self.not_smooth.append(label)
        slopes = self._central(unit)
        slope = float(slopes.central) * norm
        return (
            slope - analytic,
            self.default_allowed(u) + self.rounding() * norm,
            slope,
            _scaled(slopes, norm),
        )

    def rounding(self) -> float:
        """The rounding error of a one-sided difference quotient at the default step along a unit
        direction: a few ulps of sum |v * out| over the step. Negligible on small inputs (2e-8 at 100
        output elements), it dominates the slope along a single element of a large one (1e-3 at 10^6
        output elements), where it must not pass for a wrong gradient, nor for a kink."""
        return ROUNDING_ULPS * float(np.finfo(np.float64).eps) * self.magnitude / self.eps


def _scaled(slopes: Slopes, norm: float) -> Slopes:
    return Slopes(slopes.central * norm, slopes.ahead * norm, slopes.behind * norm)


def joint_direction(rng: np.random.Generator, shapes: Mapping[str, tuple]) -> dict[str, np.ndarray]:
    """A uniformly random unit vector over several arrays together (Gaussian, then normalised)."""
    u = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    norm = math.sqrt(sum(float(np.sum(d * d)) for d in u.values()))
    return {name: d / norm for name, d in u.items()} if norm > 0 else u


def check_gradients_joint(
    spec: OpSpec,
    example: Example,
    *,
    seed: int,
    directions: int = JOINT_DIRECTIONS,
    precise: bool = False,
    context: str = "",
) -> Outcome:
    r"""Backward must equal finite differences of the same forward along ``directions`` random
    directions over all differentiable inputs together; on failure, the wrong input and element are
    found by group testing (module docstring). Raises ``AssertionError`` (a
    :class:`~gradproof.core.compare.Mismatch` naming the element) or
    :class:`~gradproof.core.checks.KinkCrossed`; returns an :class:`Outcome` when it passes.

    The differences are taken in float64 whatever the inputs' dtype; a forward that returns float32
    on float64 inputs is differenced with :data:`LOW_PRECISION_EPS` at float32's tolerance, and the
    outcome says so.
    """
    __tracebackhide__ = True
    example = example.copy()
    text = _context(example, context) + f"\n  upstream gradient dout: standard normal, seed {seed}"
    rng = np.random.default_rng(seed)
    out, cache = call_forward(spec, example, text)
    v = rng.standard_normal(out.shape)
    grads = call_backward(spec, v.copy(), cache, example, text)
    names = [n for n in present(spec, example) if np.issubdtype(example.inputs[n].dtype, np.floating)]
    for name in names:
        _require_shape(spec, name, grads[name], example, text)
        # A NaN compares false with any tolerance: without this, it would pass every direction.
        assert_finite(grads[name], quantity=f"{spec.name} d{name}", context=text, label="backward")
    assert_finite(out, quantity=f"{spec.name} forward", context=text)
    notes = []
    g = _Counted(spec.forward, example.inputs, example.hparams, v)
    inputs64 = {n: example.inputs[n].astype(np.float64) for n in names}
    grads64 = {n: grads[n].astype(np.float64) for n in names}
    dtype = np.result_type(*(example.inputs[n].dtype for n in names)) if names else np.dtype(np.float64)
    if dtype == np.float64:
        out64 = out.astype(np.float64)
        g0, magnitude = float(np.sum(v * out64)), float(np.sum(np.abs(v * out64)))
        if np.issubdtype(out.dtype, np.floating) and np.finfo(out.dtype).bits < 64:
            g.low_precision = out.dtype
    else:  # the forward ran in the inputs' dtype; the differences run in float64
        g0 = g({})
        magnitude = abs(g0)
    # A forward's value rounds at the scale of what it adds up, which can be far above its output (a
    # cross-entropy of 1e-4 is log(1 + e^-9) + 9 - 9): the inputs' magnitude stands in for it.
    largest_input = max((float(np.max(np.abs(x))) for x in inputs64.values() if x.size), default=0.0)
    magnitude += float(np.sum(np.abs(v))) * largest_input
    eps = EPS
    if g.low_precision is not None:
        eps, dtype = LOW_PRECISION_EPS, g.low_precision
        notes.append(
            f"the forward returns {g.low_precision} on float64 inputs, so the finite differences carry its "
            f"rounding: step {eps:g} and the {g.low_precision} tolerance"
        )
        precise = False
    if precise and dtype != np.float64:
        # The backward's own rounding in float32 (1e-7) is far above what precise mode allows.
        notes.append(f"precise mode needs float64 inputs, not {dtype}: judged at the default tolerance")
        precise = False
    tol = spec.tolerance("fd", dtype if dtype in (np.float32, np.float64) else np.float32)
    measure = _Measure(g, inputs64, grads64, g0, magnitude, tol, eps, precise)
    shapes = {n: inputs64[n].shape for n in names}
    worst = 0.0
    for index in range(directions):
        u = joint_direction(rng, shapes)
        error, allowed, slope, _ = measure.error(u, label=index)
        worst = max(worst, _share(error, allowed))
        if not math.isfinite(slope):
            raise AssertionError(
                f"{spec.name} forward: not finite at a point {PRECISE_H0 if precise else eps:g} or less "
                f"from the inputs along random direction {index + 1} (slope {slope}), so finite "
                f"differences cannot judge the backward there\n{text}"
            )
        if abs(error) > allowed:
            _localise(spec, measure, u, error, allowed, slope, index, text)
    if measure.not_smooth:
        notes.append(
            f"precise mode: Richardson extrapolation did not converge along {len(measure.not_smooth)} of "
            f"{directions} directions (the forward is not smooth within its steps, up to {PRECISE_H0:.2g}); "
            f"those were judged at the default tolerance ({tol})"
        )
    return Outcome(g.calls + 1, directions, worst, precise, notes)


def _with_details(error: AssertionError, **details) -> AssertionError:
    error.details = details
    return error


def _share(error: float, allowed: float) -> float:
    """How many times the allowed error ``error`` is (infinite for any error where none is allowed)."""
    if allowed > 0:
        return abs(error) / allowed
    return math.inf if error else 0.0


def _localise(spec, measure: _Measure, u, error, allowed, slope, index, text) -> None:
    """Raise for a failing direction ``u``, naming the input and the element that carry the error."""
    __tracebackhide__ = True
    how = (
        "Richardson extrapolation"
        if measure.precise and index not in measure.not_smooth
        else "finite differences"
    )
    seen = (
        f"along random direction {index + 1} over all inputs: <gradients, u> = {measure.analytic(u):.10g}, "
        f"slope of the forward = {slope:.10g} ({how}; allowed error {allowed:.3g})"
    )
    shares = {}
    for name in u:
        part_error, part_allowed, _, _ = measure.error({name: u[name]})
        shares[name] = _share(part_error, part_allowed)
    name = max(shares, key=lambda n: shares[n])
    x, direction = measure.inputs64[name], u[name].ravel()
    lo, hi = 0, x.size
    while hi - lo > 1:
        mid = (lo + hi) // 2
        best, best_share = None, -1.0
        for a, b in ((lo, mid), (mid, hi)):
            block = np.zeros(x.size)
            block[a:b] = direction[a:b]
            part_error, part_allowed, _, _ = measure.error({name: block.reshape(x.shape)})
            share = _share(part_error, part_allowed)
            if share > best_share:
                best, best_share = (a, b), share
        lo, hi = best
    at = np.unravel_index(lo, x.shape) if x.ndim else ()
    axis = np.zeros(x.size)
    axis[lo] = 1.0
    part_error, part_allowed, expected, slopes = measure.error({name: axis.reshape(x.shape)})
    got = float(measure.grads[name].ravel()[lo])
    calls = measure.g.calls + 1
    where = f"{name}{format_index(at)}"
    found = (
        f"  found by group testing over {name}'s {x.size} elements, {calls} forward calls in all, after a "
        f"failed check {seen}"
    )
    if abs(part_error) <= part_allowed:
        raise mismatch(
            f"{spec.name}: backward disagrees with finite differences {seen}\n"
            f"  the error is in d{name} (its part of u sees {shares[name]:.3g} times the allowed error) but "
            f"spread over many elements: group testing led to {where}, which is within tolerance there "
            f"({calls} forward calls in all)\n{text}",
            quantity=f"{spec.name} d{name}",
            index=None,
            expected=slope,
            got=measure.analytic(u),
            abs_err=abs(error),
            rel_err=abs(error) / abs(slope) if slope else math.inf,
            count=None,
            size=int(x.size),
            expected_label=f"slope along random direction {index + 1}",
            got_label="<gradients, u>",
            forward_calls=calls,
        )
    # One-sided slopes disagree by their rounding alone; only a disagreement beyond it is a kink.
    kink_tol = Tolerance(measure.tol.atol + 2 * measure.rounding(), measure.tol.rtol)
    if bool(slopes.kinked(kink_tol)):
        raise _with_details(
            KinkCrossed(
                f"{spec.name} d{name}: kink crossed at {where}, not a wrong gradient: the central difference "
                f"{float(slopes.central):.6g} disagrees with both one-sided slopes "
                f"(behind {float(slopes.behind):.6g}, ahead {float(slopes.ahead):.6g}), so the step "
                f"straddles a point where the forward is not differentiable and cannot judge the backward's "
                f"{got:.6g} there; {_kink_advice(spec, name)}\n{found}\n{text}"
            ),
            quantity=f"{spec.name} d{name}",
            index=tuple(int(i) for i in at),
            expected=float(slopes.central),
            got=got,
            expected_label="central difference (kink crossed)",
            got_label="backward",
            forward_calls=calls,
        )
    abs_err = abs(got - expected)
    rel_err = abs_err / abs(expected) if expected else math.inf
    raise mismatch(
        f"{spec.name} d{name}: backward differs from {how} at {where}: {how} {expected:.10g}, backward "
        f"{got:.10g} (abs err {abs_err:.3g}, rel err {rel_err:.3g}, "
        f"allowed {part_allowed:.3g})\n{found}\n{text}",
        quantity=f"{spec.name} d{name}",
        index=tuple(int(i) for i in at),
        expected=expected,
        got=got,
        abs_err=abs_err,
        rel_err=rel_err,
        count=None,
        size=int(x.size),
        expected_label=how,
        got_label="backward",
        forward_calls=calls,
    )
