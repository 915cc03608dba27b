r"""Central finite differences, always in float64, and how to read them.

An op's backward pass is a vector-Jacobian product: given the upstream gradient :math:`v`, it
returns :math:`\nabla_x \langle v, f(x) \rangle`. So every check here differentiates the scalar
function

.. math:: g(x) = \langle v, f(x) \rangle

numerically and compares with what the backward pass returned for :math:`v`.

*Directional check* (as torch's fast gradcheck and JAX's ``check_vjp`` do): along a random unit
direction :math:`u`, the slope :math:`(g(x + \epsilon u) - g(x - \epsilon u)) / 2\epsilon` must equal
:math:`\langle \nabla_x g, u \rangle`. Two forward calls per input per direction, whatever the size.

*Full check*: the same slope along every coordinate axis, giving the whole numerical gradient, so a
failure names its worst element. Two forward calls per element.

*Kinks*: at a smooth point the one-sided slopes :math:`(g(x + \epsilon u) - g(x)) / \epsilon` and
:math:`(g(x) - g(x - \epsilon u)) / \epsilon` both agree with the central one to
:math:`O(\epsilon g'')`. When the central slope disagrees with both, the step crossed a point where
:math:`g` is not differentiable, and the difference quotient says nothing about the gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from gradproof.core.compare import Tolerance

EPS = 1e-6
"""Step of the central differences: near the cube root of float64's machine epsilon, where
truncation and rounding errors balance."""

Scalar = Callable[[Mapping[str, np.ndarray]], float]


class Scalarized:
    r"""The scalar :math:`g(x) = \langle v, f(x) \rangle` of a forward around fixed inputs.

    ``g(replaced)`` evaluates it at one point; ``g.many([replaced, ...])`` at several, in one batch
    when the forward offers one (a ``many`` attribute taking a list of ``(args, hparams)`` and
    returning a list of ``(out, cache)``, as a candidate's forward does, to send one request to its
    process instead of one per point).
    """

    def __init__(self, forward: Callable, inputs: Mapping[str, np.ndarray], hparams: Mapping, cotangent):
        self.forward, self.inputs, self.hparams = forward, inputs, hparams
        self.cotangent = np.asarray(cotangent, dtype=np.float64)

    def _args(self, replaced: Mapping[str, np.ndarray]) -> list:
        args = []
        for name, value in self.inputs.items():
            if name in replaced:
                # A perturbed point is a fresh array of the caller's: no copy (at 10^6 elements the
                # copies cost as much as the forward).
                value = replaced[name]
                if np.issubdtype(value.dtype, np.floating):
                    value = np.asarray(value, dtype=np.float64)
            elif np.issubdtype(value.dtype, np.floating):
                value = value.astype(np.float64)
            args.append(value)
        return args

    def _value(self, out) -> float:
        return float(np.sum(self.cotangent * np.asarray(out, dtype=np.float64)))

    def __call__(self, replaced: Mapping[str, np.ndarray]) -> float:
        out, _ = self.forward(*self._args(replaced), **self.hparams)
        return self._value(out)

    def many(self, points: list[Mapping[str, np.ndarray]]) -> list[float]:
        batch = getattr(self.forward, "many", None)
        if batch is None:
            return [self(replaced) for replaced in points]
        results = batch([(self._args(replaced), self.hparams) for replaced in points])
        return [self._value(out) for out, _ in results]


def scalarize(forward: Callable, inputs: Mapping[str, np.ndarray], hparams: Mapping, cotangent) -> Scalarized:
    r"""The scalar :math:`g(x) = \langle v, f(x) \rangle` of ``forward`` around ``inputs``.

    The returned function takes a mapping of replaced inputs (the rest stay as in ``inputs``),
    promotes floating inputs to float64 and sums in float64, so the differences are taken in
    float64 whatever the dtype under test.
    """
    return Scalarized(forward, inputs, hparams, cotangent)


@dataclass(frozen=True)
class Slopes:
    """Central and one-sided difference quotients, scalars or arrays of the same shape."""

    central: np.ndarray
    ahead: np.ndarray
    behind: np.ndarray

    def kinked(self, tol: Tolerance) -> np.ndarray:
        """Where the central slope disagrees with both one-sided slopes beyond ``tol``."""
        allowed = tol.atol + tol.rtol * np.abs(self.central)
        return (np.abs(self.central - self.ahead) > allowed) & (np.abs(self.central - self.behind) > allowed)


def directional_slopes(
    g: Scalar, inputs: Mapping[str, np.ndarray], name: str, direction: np.ndarray, g0: float, eps: float = EPS
) -> Slopes:
    """Slopes of ``g`` along ``direction`` in input ``name``; ``g0`` is ``g`` at the unperturbed point."""
    x = inputs[name].astype(np.float64)
    g_plus, g_minus = _many(g, [{name: x + eps * direction}, {name: x - eps * direction}])
    return Slopes(
        central=np.float64((g_plus - g_minus) / (2 * eps)),
        ahead=np.float64((g_plus - g0) / eps),
        behind=np.float64((g0 - g_minus) / eps),
    )


def elementwise_slopes(
    g: Scalar, inputs: Mapping[str, np.ndarray], name: str, g0: float, eps: float = EPS
) -> Slopes:
    """Slopes of ``g`` along every coordinate axis of input ``name``: the full numerical gradient."""
    x = inputs[name].astype(np.float64)
    points = []
    for index in np.ndindex(x.shape):
        for step in (eps, -eps):
            bumped = x.copy()
            bumped[index] = x[index] + step
            points.append({name: bumped})
    values = np.array(_many(g, points), dtype=np.float64).reshape(*x.shape, 2)
    g_plus, g_minus = values[..., 0], values[..., 1]
    return Slopes((g_plus - g_minus) / (2 * eps), (g_plus - g0) / eps, (g0 - g_minus) / eps)


def _many(g: Scalar, points: list) -> list[float]:
    """``g`` at every point, batched when ``g`` can batch (a plain function is called per point)."""
    many = getattr(g, "many", None)
    return many(points) if many is not None else [g(point) for point in points]


def random_direction(rng: np.random.Generator, shape) -> np.ndarray:
    """A uniformly random unit vector of ``shape`` (Gaussian, then normalised)."""
    u = rng.standard_normal(shape)
    norm = np.linalg.norm(u)
    # A Gaussian draw of norm exactly 0 has probability zero, except for an empty array.
    return u / norm if norm > 0 else u
