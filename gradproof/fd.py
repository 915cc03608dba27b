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

from gradproof.compare import Tolerance

EPS = 1e-6
"""Step of the central differences: near the cube root of float64's machine epsilon, where
truncation and rounding errors balance."""

Scalar = Callable[[Mapping[str, np.ndarray]], float]


def scalarize(forward: Callable, inputs: Mapping[str, np.ndarray], hparams: Mapping, cotangent) -> Scalar:
    r"""The scalar :math:`g(x) = \langle v, f(x) \rangle` of ``forward`` around ``inputs``.

    The returned function takes a mapping of replaced inputs (the rest stay as in ``inputs``),
    promotes floating inputs to float64 and sums in float64, so the differences are taken in
    float64 whatever the dtype under test.
    """
    cotangent = np.asarray(cotangent, dtype=np.float64)

    def g(replaced: Mapping[str, np.ndarray]) -> float:
        args = []
        for name, value in inputs.items():
            value = replaced.get(name, value)
            if np.issubdtype(value.dtype, np.floating):
                value = value.astype(np.float64)
            args.append(value)
        out, _ = forward(*args, **hparams)
        return float(np.sum(cotangent * np.asarray(out, dtype=np.float64)))

    return g


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
    g_plus = g({name: x + eps * direction})
    g_minus = g({name: x - eps * direction})
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
    central, ahead, behind = (np.empty_like(x) for _ in range(3))
    for index in np.ndindex(x.shape):
        bumped = x.copy()
        bumped[index] = x[index] + eps
        g_plus = g({name: bumped})
        bumped[index] = x[index] - eps
        g_minus = g({name: bumped})
        central[index] = (g_plus - g_minus) / (2 * eps)
        ahead[index] = (g_plus - g0) / eps
        behind[index] = (g0 - g_minus) / eps
    return Slopes(central, ahead, behind)


def random_direction(rng: np.random.Generator, shape) -> np.ndarray:
    """A uniformly random unit vector of ``shape`` (Gaussian, then normalised)."""
    u = rng.standard_normal(shape)
    norm = np.linalg.norm(u)
    # A Gaussian draw of norm exactly 0 has probability zero, except for an empty array.
    return u / norm if norm > 0 else u
