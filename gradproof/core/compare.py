r"""Comparing arrays: one dtype-to-tolerance table, and failures that explain themselves.

Two kinds of check draw on the table:

``"fd"``
    an analytic gradient against central finite differences. The difference quotient carries a
    truncation error of order :math:`\epsilon^2 f'''` and a rounding error of order
    :math:`u\,|f| / \epsilon`, so its tolerance is loose.
``"oracle"``
    a value against an independent exact computation (the PyTorch twin, or an identity such as
    linearity of the backward pass). Both sides are exact up to rounding, so the tolerance is tight.

An element passes when :math:`|got - expected| \le atol + rtol \cdot scale`, where ``scale`` is
``|expected|`` unless the caller knows a better magnitude (see :func:`assert_close`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

CHECKS = ("fd", "oracle")


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float

    def __str__(self) -> str:
        return f"atol {self.atol:g}, rtol {self.rtol:g}"


TOLERANCES: dict[tuple[str, np.dtype], Tolerance] = {
    ("fd", np.dtype(np.float64)): Tolerance(atol=1e-5, rtol=1e-3),
    # Finite differences always run in float64; a float32 implementation is judged by how far its
    # float32 rounding moves it from that float64 slope.
    ("fd", np.dtype(np.float32)): Tolerance(atol=1e-3, rtol=1e-2),
    ("oracle", np.dtype(np.float64)): Tolerance(atol=1e-10, rtol=1e-7),
    ("oracle", np.dtype(np.float32)): Tolerance(atol=1e-5, rtol=1e-4),
}


@dataclass(frozen=True)
class ToleranceOverride:
    """A per-op exception to :data:`TOLERANCES`; it must say why the op needs it."""

    check: str
    dtype: str
    atol: float
    rtol: float
    reason: str

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"ToleranceOverride check must be one of {CHECKS}, not {self.check!r}")
        np.dtype(self.dtype)  # raises TypeError on a name NumPy does not know
        if not self.reason.strip():
            raise ValueError("ToleranceOverride needs a reason: say why this op cannot meet the table")
        if self.atol < 0 or self.rtol < 0:
            raise ValueError(f"ToleranceOverride atol and rtol must be >= 0, got {self.atol}, {self.rtol}")


class Mismatch(AssertionError):
    """An :func:`assert_close` failure, with its parts kept apart for a caller that shows them (the
    notebook API's table): ``details`` has ``quantity``, ``index`` (the worst element), ``expected``,
    ``got``, ``abs_err``, ``rel_err``, ``count`` (elements beyond tolerance), ``size`` and the labels.

    Set as an attribute, not a constructor argument, so that the exception pickles like any other.
    """

    details: dict


def mismatch(message: str, **details) -> Mismatch:
    """A :class:`Mismatch` with ``message`` and ``details``."""
    error = Mismatch(message)
    error.details = details
    return error


def tolerance_for(check: str, dtype, overrides: Iterable[ToleranceOverride] = ()) -> Tolerance:
    """The tolerance of ``check`` for arrays of ``dtype``, after the op's ``overrides``.

    >>> tolerance_for("fd", np.float64)
    Tolerance(atol=1e-05, rtol=0.001)
    """
    dtype = np.dtype(dtype)
    for override in overrides:
        if override.check == check and np.dtype(override.dtype) == dtype:
            return Tolerance(override.atol, override.rtol)
    try:
        return TOLERANCES[(check, dtype)]
    except KeyError:
        raise ValueError(
            f"no {check!r} tolerance for dtype {dtype}; the table has {sorted(TOLERANCES)}"
        ) from None


def format_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]" if index else "(scalar)"


def as_array(value, quantity: str, context: str = "") -> np.ndarray:
    """``value`` as an ndarray, or an AssertionError that says what came back instead."""
    __tracebackhide__ = True
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (np.generic, float, int)) and not isinstance(value, bool):
        return np.asarray(value)
    if value is None:  # a template's `pass`, or a forgotten return
        what = "None instead of a NumPy array: not implemented yet, or a missing return"
    else:
        what = f"{type(value).__name__} instead of a NumPy array"
    raise AssertionError(f"{quantity}: returned {what}" + (f"\n{context}" if context else ""))


def assert_finite(value, *, quantity: str, context: str = "", label: str = "got") -> None:
    """Raise AssertionError if ``value`` has a NaN or an infinity; name the first one."""
    __tracebackhide__ = True
    value = np.asarray(value, dtype=np.float64)
    nonfinite = ~np.isfinite(value)
    if nonfinite.any():
        where = tuple(np.argwhere(nonfinite)[0]) if value.ndim else ()
        raise AssertionError(
            f"{quantity}: {label} is not finite: {int(nonfinite.sum())} of {value.size} elements are "
            f"NaN or inf, first at {format_index(where)} ({value[where]})"
            + (f"\n{context}" if context else "")
        )


def assert_close(
    got,
    expected,
    *,
    tol: Tolerance,
    quantity: str,
    context: str = "",
    scale=None,
    got_label: str = "got",
    expected_label: str = "expected",
) -> None:
    """Raise AssertionError unless ``got`` matches ``expected`` element-wise within ``tol``.

    Parameters
    ----------
    got, expected : array_like
        The value under test and the value it must equal. Shapes must match exactly.
    tol : Tolerance
    quantity : str
        What is compared, as a user reads it: ``"affine dw"``.
    context : str
        More lines for the message: the example's shapes and hyperparameters, how to reproduce.
    scale : array_like, optional
        The magnitude that ``rtol`` is relative to, broadcast against ``expected``; defaults to
        ``|expected|``. A sum such as ``a*g1 + b*g2`` can cancel to a tiny ``expected`` while the
        rounding error is set by ``|a*g1| + |b*g2|``: pass that here.
    got_label, expected_label : str
        Where each side came from, for the message: ``"backward"``, ``"finite differences"``.

    Examples
    --------
    >>> assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]),
    ...              tol=Tolerance(1e-10, 1e-7), quantity="demo")
    """
    __tracebackhide__ = True
    got = as_array(got, quantity, context)
    expected = np.asarray(expected)
    tail = f"\n{context}" if context else ""
    if got.shape != expected.shape:
        raise AssertionError(
            f"{quantity}: {got_label} has shape {got.shape}, expected shape {expected.shape}{tail}"
        )
    if not np.issubdtype(got.dtype, np.number) or np.issubdtype(got.dtype, np.complexfloating):
        raise AssertionError(
            f"{quantity}: {got_label} has dtype {got.dtype}, expected a real float array{tail}"
        )
    assert_finite(got, quantity=quantity, context=context, label=got_label)
    got64 = got.astype(np.float64)
    expected64 = expected.astype(np.float64)
    magnitude = np.abs(expected64) if scale is None else np.broadcast_to(np.abs(scale), expected.shape)
    error = np.abs(got64 - expected64)
    allowed = tol.atol + tol.rtol * magnitude
    # Where nothing is allowed (atol 0 and a zero scale), only an exact match passes.
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(allowed > 0, error / allowed, np.where(error > 0, np.inf, 0.0))
    bad = excess > 1.0
    if not bad.any():
        return
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
    rel = error[worst] / abs(expected64[worst]) if expected64[worst] != 0 else np.inf
    raise mismatch(
        f"{quantity}: {got_label} differs from {expected_label} in {int(bad.sum())} of {got.size} "
        f"elements beyond tolerance ({tol})\n"
        f"  worst element {format_index(worst)}: {expected_label} {expected64[worst]:.10g}, "
        f"{got_label} {got64[worst]:.10g} (abs err {error[worst]:.3g}, rel err {rel:.3g})"
        f"{tail}",
        quantity=quantity,
        index=tuple(int(i) for i in worst),
        expected=float(expected64[worst]),
        got=float(got64[worst]),
        abs_err=float(error[worst]),
        rel_err=float(rel),
        count=int(bad.sum()),
        size=int(got.size),
        expected_label=expected_label,
        got_label=got_label,
    )
