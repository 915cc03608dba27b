r"""The shape of an error: what is exact about a wrong result, read from it and the right one.

A wrong gradient is rarely wrong at random. Taken over the failing example and a few more of the
same sizes (:class:`Case`), the candidate's result may be the reference's times one constant (a
``1/N`` forgotten, a sign flipped), its transpose, the reference's plus a term constant along one
axis (a sum or mean term missing along it), or right everywhere but on a set of elements that the
op's geometry names (where pooling or convolution windows overlap; within the padding's reach of
the border). Each test here holds on every case, elementwise, to the comparison's tolerance, or it
says nothing: a statement is never a guess, and random errors get none.

>>> expected = np.arange(1.0, 7.0).reshape(2, 3)
>>> describe("demo dx", [Case(expected / 2, expected, {"N": 2})], Tolerance(1e-10, 1e-7))
'demo dx is 0.5 times the reference on every element (0.5 = 1/N, with N = 2)'
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from gradproof.core.compare import Tolerance

RATIO_RTOL = 1e-7
"""How close a factor must be to a named expression (``1/N``) to be called by its name."""


@dataclass(frozen=True)
class Windows:
    """Where an op's windows lie along the spatial axes of its input: ``axes`` of the input array,
    and per axis the kernel, stride and zero padding."""

    axes: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pad: tuple[int, ...]

    def coverage(self, shape: tuple[int, ...]) -> np.ndarray:
        """How many windows read each element of an input of ``shape`` (1 along other axes)."""
        counts = np.ones(shape, dtype=np.int64)
        for axis, k, s, p in zip(self.axes, self.kernel, self.stride, self.pad, strict=True):
            size = shape[axis]
            along = np.zeros(size + 2 * p, dtype=np.int64)
            for start in range(0, size + 2 * p - k + 1, s):
                along[start : start + k] += 1
            view = [1] * len(shape)
            view[axis] = size
            counts = counts * along[p : p + size].reshape(view)
        return counts

    def border(self, shape: tuple[int, ...]) -> np.ndarray:
        """The elements within the padding's reach of the border: their windows read padding."""
        mask = np.zeros(shape, dtype=bool)
        for axis, p in zip(self.axes, self.pad, strict=True):
            if p == 0:
                continue
            index = np.arange(shape[axis])
            view = [1] * len(shape)
            view[axis] = shape[axis]
            near = ((index < p) | (index >= shape[axis] - p)).reshape(view)
            mask |= np.broadcast_to(near, shape)
        return mask


@dataclass(frozen=True)
class Case:
    """One example's result: the candidate's (``got``) and the reference's (``expected``), the
    example's named sizes and hyperparameters (``{"N": 4, "p": 0.5}``) for naming a factor, and
    the op's windows when ``got`` is the gradient of the windowed input."""

    got: np.ndarray
    expected: np.ndarray
    sizes: dict = field(default_factory=dict)
    windows: Windows | None = None


def close(got, value, tol: Tolerance, *, scale=None) -> np.ndarray:
    """Elementwise: ``got`` equals ``value`` within ``tol`` (relative to ``scale``, or ``|value|``)."""
    got, value = np.asarray(got, dtype=np.float64), np.asarray(value, dtype=np.float64)
    magnitude = np.abs(value) if scale is None else np.abs(scale)
    with np.errstate(invalid="ignore"):
        return np.abs(got - value) <= tol.atol + tol.rtol * magnitude


def equal(got, value, tol: Tolerance) -> bool:
    """``got`` has ``value``'s shape and equals it everywhere within ``tol``."""
    got, value = np.asarray(got), np.asarray(value)
    return got.shape == value.shape and bool(close(got, value, tol).all())


def _usable(cases: list[Case]) -> bool:
    return bool(cases) and all(
        np.asarray(c.got).shape == np.asarray(c.expected).shape
        and np.all(np.isfinite(c.got))
        and np.all(np.isfinite(c.expected))
        for c in cases
    )


def _names(value: float, sizes: dict) -> dict[str, tuple[str, ...]]:
    """The simple expressions of ``sizes`` equal to ``value`` (``N``, ``1/N``, ``-1``, ``1/(N * C)``),
    each with the sizes it uses."""
    terms = {key: ((key,), float(v)) for key, v in sizes.items() if _number(v) and v not in (0, 1, -1)}
    for (a, (_, va)), (b, (_, vb)) in itertools.combinations(list(terms.items()), 2):
        terms[f"({a} * {b})"] = ((a, b), va * vb)
    exprs = {"-1": ((), -1.0), "2": ((), 2.0), "1/2": ((), 0.5), "-2": ((), -2.0), "-1/2": ((), -0.5)}
    for key, (used, v) in terms.items():
        bare = key.strip("()")
        exprs.update({bare: (used, v), f"1/{key}": (used, 1 / v), f"-{key}": (used, -v)})
        exprs[f"-1/{key}"] = (used, -1 / v)
    return {key: used for key, (used, v) in exprs.items() if abs(value - v) <= RATIO_RTOL * max(1.0, abs(v))}


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def constant_factor(quantity: str, cases: list[Case], tol: Tolerance) -> str | None:
    """``got = c * expected`` on every element of every case, for one ``c`` other than 0 and 1."""
    if not _usable(cases):
        return None
    ratios = []
    for c in cases:
        e, g = np.asarray(c.expected, np.float64), np.asarray(c.got, np.float64)
        norm = float(np.sum(e * e))
        if norm == 0:
            if np.any(g):
                return None
            continue
        ratios.append(float(np.sum(g * e)) / norm)
    if not ratios:
        return None
    ratio = ratios[0]
    if abs(ratio) <= RATIO_RTOL or abs(ratio - 1) <= RATIO_RTOL:
        return None
    for c in cases:
        e = np.asarray(c.expected, np.float64)
        if not close(c.got, ratio * e, tol, scale=np.abs(ratio * e) + np.abs(e)).all():
            return None
    # Names that hold on every case: the cases share their sizes, but say only what all of them show.
    names = _names(ratio, cases[0].sizes)
    names = {k: used for k, used in names.items() if all(k in _names(ratio, c.sizes) for c in cases)}
    # A scalar is always some multiple of the right one: only a factor with a name says anything.
    if max(np.asarray(c.got).size for c in cases) < 2 and not names:
        return None
    if abs(ratio + 1) <= RATIO_RTOL:
        return f"{quantity} is the reference with the sign flipped (-1 times it, on every element)"
    text = f"{quantity} is {ratio:.6g} times the reference on every element"
    symbolic = {k: used for k, used in names.items() if used}
    # A plain number (2, 1/2) that is the factor is said as it is: a size that happens to equal it
    # (N = 2) is a coincidence of the example's sizes, not evidence.
    if symbolic and not any(not used for used in names.values()):
        used = sorted({size for sizes in symbolic.values() for size in sizes})
        where = ", ".join(f"{size} = {cases[0].sizes[size]:g}" for size in used)
        text += f" ({ratio:.6g} = {' = '.join(symbolic)}, with {where})"
    return text


def transposed(quantity: str, cases: list[Case], tol: Tolerance) -> str | None:
    """``got`` is ``expected`` with its axes permuted, on every case."""
    if not cases or not all(np.all(np.isfinite(c.got)) for c in cases):
        return None
    ndim = np.ndim(cases[0].expected)
    for perm in itertools.permutations(range(ndim)):
        if perm == tuple(range(ndim)):
            continue
        if all(equal(c.got, np.transpose(c.expected, perm), tol) for c in cases):
            if any(equal(c.got, c.expected, tol) for c in cases[:1]):
                return None  # symmetric: the transpose is the reference itself
            if ndim == 2:
                return f"{quantity} is the transpose of the reference (shape {np.shape(cases[0].expected)})"
            return (
                f"{quantity} is the reference with its axes permuted as {perm} "
                f"(shape {np.shape(cases[0].got)} for {np.shape(cases[0].expected)})"
            )
    return None


def constant_along(quantity: str, cases: list[Case], tol: Tolerance) -> str | None:
    """``got - expected`` is nonzero and constant along one axis (of length 2 or more), on every
    case: a term summed or averaged along that axis is missing, or one too many."""
    if not _usable(cases) or np.ndim(cases[0].expected) == 0:
        return None
    shape = np.shape(cases[0].expected)
    constant_axes = []
    for axis, length in enumerate(shape):
        if length < 2:
            continue
        if all(_constant(c, axis, tol) for c in cases):
            constant_axes.append(axis)
    if not constant_axes:
        return None
    if len(constant_axes) == sum(1 for n in shape if n >= 2):
        return (
            f"{quantity} differs from the reference by one constant on every element, as a missing "
            "or extra sum or mean over all of them would leave"
        )
    axes = ", ".join(str(a) for a in constant_axes)
    word = "axis" if len(constant_axes) == 1 else "axes"
    return (
        f"{quantity} differs from the reference by a term constant along {word} {axes} of {shape}, "
        f"as a missing or extra sum or mean over that {word} would leave"
    )


def _constant(case: Case, axis: int, tol: Tolerance) -> bool:
    e, g = np.asarray(case.expected, np.float64), np.asarray(case.got, np.float64)
    residual = g - e
    mean = residual.mean(axis=axis, keepdims=True)
    scale = np.abs(e) + np.abs(g)
    return bool(close(residual, np.broadcast_to(mean, residual.shape), tol, scale=scale).all())


def wrong_only_in(cases: list[Case], tol: Tolerance, region) -> bool:
    """Every wrong element of every case lies in ``region(case)`` (a boolean mask, or None where
    the case has none), which is not the whole array, and some case has a wrong element."""
    if not _usable(cases):
        return False
    seen_wrong = False
    for c in cases:
        mask = region(c)
        if mask is None or mask.all():
            return False
        wrong = ~close(c.got, c.expected, tol)
        if np.any(wrong & ~mask):
            return False
        seen_wrong = seen_wrong or bool(wrong.any())
    return seen_wrong


def windowed(quantity: str, cases: list[Case], tol: Tolerance) -> str | None:
    """Right everywhere except where windows overlap, or within the padding's reach of the border."""
    if any(c.windows is None for c in cases):
        return None
    if wrong_only_in(cases, tol, lambda c: c.windows.coverage(np.shape(c.got)) > 1):
        return (
            f"{quantity} is right everywhere except on elements that more than one window reads "
            "(windows overlap when the stride is smaller than the kernel): there the gradients of "
            "all the windows that read an element add up (+=)"
        )
    if wrong_only_in(cases, tol, lambda c: c.windows.border(np.shape(c.got))):
        return (
            f"{quantity} is right everywhere except within the padding's reach of the border, on "
            "elements whose windows read the padding: the padding is handled wrongly there"
        )
    return None


def describe(quantity: str, cases: list[Case], tol: Tolerance) -> str | None:
    """The first exact statement about how ``got`` differs from ``expected`` on all ``cases``,
    or None. An all-zero ``got`` is left to the caller (it says "not implemented yet")."""
    same_shape = [c for c in cases if np.shape(c.got) == np.shape(c.expected)]
    if not cases or (same_shape and all(not np.any(c.got) for c in same_shape)):
        return None
    if len(same_shape) == len(cases) and all(equal(c.got, c.expected, tol) for c in cases):
        return None  # right on every case: nothing to explain
    for test in (transposed, constant_factor, windowed, constant_along):
        found = test(quantity, cases, tol)
        if found:
            return found
    return None
