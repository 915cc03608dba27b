r"""Kinks: where an op is not differentiable, declared once in its spec.

A kink is a point where the forward has no derivative: ReLU at :math:`x = 0`, a tie for a max-pool
window's maximum, a hinge margin of exactly 0. An op declares its kinks with one :class:`Kinks` in
its spec (``kinks=``), and the harness derives from it

* how far an example sits from them (:attr:`Kinks.distance`): the gradient check refuses an example
  closer than its finite-difference step, where the difference quotient says nothing;
* examples kept away from them (:meth:`Kinks.keep_away`), for every property that differentiates
  numerically;
* examples exactly on them (:attr:`Kinks.onto`), where the reference must agree with its PyTorch
  twin, forward and backward: the at-kink property pins :math:`\mathrm{ReLU}'(0) = 0` as torch has
  it, and likewise every op's convention at its kinks.

Most ops declare one line::

    RELU_KINK = kinks.at_values("x", (0.0,))

    @op("relu", ..., examples=RELU_KINK.keep_away(activation_examples()), kinks=RELU_KINK)

An op that declares no kinks is checked for undeclared ones: its examples, snapped to simple values
(:func:`snapped`), must have one-sided difference quotients that agree
(:func:`gradproof.core.checks.check_differentiable_at`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # registry imports this module for OpSpec.kinks
    from gradproof.core.registry import Example

KINK_MARGIN = 1e-3
"""Distance :meth:`Kinks.keep_away` keeps from a kink: a thousand times the finite-difference step
(the same as :data:`gradproof.core.strategies.KINK_MARGIN`, which this module does not import so
that it stays free of Hypothesis)."""

SIMPLE_VALUES = (0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0)
"""Where hand-written ops put their kinks (ReLU at 0, hard tanh at +-1, a margin of 1): what
:func:`snapped` moves elements onto to find a kink nobody declared."""


def how_to_declare(name: str, value: float | None = None) -> str:
    """The advice every kink message ends with, for a kink of input ``name`` (at ``value``, when known).

    >>> "kinks=gradproof.core.kinks.at_values('x', (0.0,))" in how_to_declare("x", 0.0)
    True
    """
    at = "..." if value is None else repr(value)
    return (
        f"declare the op's kinks in its spec: kinks=gradproof.core.kinks.at_values({name!r}, ({at},)) "
        f"for an element-wise kink of {name} at {at}, kinks.ties({name!r}) for ties among its values, "
        "or kinks.Kinks(where=..., distance=..., onto=...) for any other (see gradproof.core.kinks)"
    )


@dataclass(frozen=True)
class Kinks:
    r"""Where an op is not differentiable.

    Attributes
    ----------
    where : str
        The kinks in words, for messages: ``"x = 0"``, ``"a tie for a window's maximum"``.
    distance : callable
        ``distance(example) -> float``: how far (in max-norm over the inputs) the example sits from
        the nearest kink, or a lower bound of it; ``inf`` when it can reach none.
    onto : callable, optional
        ``onto(example, rng) -> Example``: the same example with some elements moved exactly onto a
        kink (``rng`` is a ``numpy.random.Generator``, for which and where). The at-kink property
        compares the reference with its twin there.
    away : callable, optional
        ``away(example) -> Example``: the same example with every element within a margin of a kink
        pushed out to the margin; :meth:`keep_away` maps a strategy through it.
    not_pinned : str
        Why there is no ``onto``: the reason the op is not compared with its twin at its kinks.
        Exactly one of ``onto`` and ``not_pinned`` is given.

    Examples
    --------
    >>> k = at_values("x", (0.0,))
    >>> from gradproof.core.registry import Example
    >>> k.distance(Example({"x": np.array([0.5, -0.25])}))
    0.25
    >>> k.away(Example({"x": np.array([1e-4, -2.0])})).inputs["x"].tolist()
    [0.001, -2.0]
    """

    where: str
    distance: Callable[[Example], float]
    onto: Callable[[Example, np.random.Generator], Example] | None = None
    away: Callable[[Example], Example] | None = None
    not_pinned: str = ""

    def __post_init__(self) -> None:
        if not self.where.strip():
            raise ValueError("Kinks needs where: say where the op's kinks are, e.g. 'x = 0'")
        if not callable(self.distance):
            raise TypeError(f"Kinks distance must be callable (example -> float), not {self.distance!r}")
        if (self.onto is None) == (not self.not_pinned.strip()):
            raise ValueError(
                f"Kinks at {self.where}: give onto (example, rng -> an example on a kink, where the "
                "reference is compared with its twin) or not_pinned (why it cannot be), exactly one"
            )

    def keep_away(self, examples: Any) -> Any:
        """``examples`` (a Hypothesis strategy of Example) with every element kept a margin away from
        the kinks, through :attr:`away`."""
        if self.away is None:
            raise ValueError(
                f"Kinks at {self.where} cannot push values away by themselves: build the examples away "
                "from them (gradproof.core.strategies.away_from, distinct_values)"
            )
        return examples.map(self.away)


def some_elements(
    shape: tuple[int, ...], rng: np.random.Generator, among: np.ndarray | None = None
) -> np.ndarray:
    """A boolean mask of ``shape``: each element (of those ``among`` allows) with probability one
    half, and at least one when any is allowed, so that an ``onto`` always moves something.

    >>> bool(some_elements((2, 3), np.random.default_rng(0)).any())
    True
    """
    allowed = np.ones(shape, dtype=bool) if among is None else np.asarray(among, dtype=bool)
    mask = (rng.random(shape) < 0.5) & allowed
    if allowed.any() and not mask.any():
        mask.flat[rng.choice(np.flatnonzero(allowed))] = True
    return mask


def with_input(example: Example, name: str, value: np.ndarray) -> Example:
    """``example`` with input ``name`` replaced (the others and the hyperparameters shared)."""
    return dataclasses.replace(example, inputs={**example.inputs, name: value})


def at_values(
    name: str,
    values: Sequence[float] | Callable[[dict], Sequence[float]],
    *,
    where: str = "",
    margin: float = KINK_MARGIN,
) -> Kinks:
    r"""An element-wise kink of input ``name`` at each of ``values``: ReLU's at 0.

    ``values`` may depend on the hyperparameters: a callable ``hparams -> values``, as softplus,
    whose kink sits at ``threshold / beta``. Kinks must lie more than ``2 * margin`` apart, so that
    pushing a value away from one cannot push it onto another.

    >>> at_values("x", (0.0,)).where
    'x = 0.0'
    >>> at_values("x", lambda hp: (hp["threshold"] / hp["beta"],), where="x = threshold / beta").where
    'x = threshold / beta'
    """
    if callable(values):
        if not where:
            raise ValueError(f"at_values({name!r}): kinks that depend on hyperparameters need where=")
        kinks_of = values
    else:
        fixed = tuple(float(v) for v in values)
        if not fixed:
            raise ValueError(f"at_values({name!r}): give at least one value")
        if len(fixed) > 1 and np.min(np.diff(sorted(fixed))) <= 2 * margin:
            raise ValueError(f"at_values({name!r}): kinks {fixed} must lie more than 2 * {margin} apart")
        where = where or f"{name} = {' or '.join(repr(v) for v in fixed)}"

        def kinks_of(hparams):
            return fixed

    def points(example: Example) -> np.ndarray:
        return np.asarray(kinks_of(example.hparams), dtype=np.float64)

    def distance(example: Example) -> float:
        x = example.inputs[name]
        if x.size == 0:
            return np.inf
        return float(np.min(np.abs(x[..., None] - points(example))))

    def onto(example: Example, rng: np.random.Generator) -> Example:
        x = example.inputs[name].copy()
        mask = some_elements(x.shape, rng)
        x[mask] = rng.choice(points(example), size=x.shape)[mask]
        return with_input(example, name, x)

    def away(example: Example) -> Example:
        x = example.inputs[name].copy()
        for kink in points(example):
            close = np.abs(x - kink) < margin
            x[close] = np.where(x[close] >= kink, kink + margin, kink - margin)
        return with_input(example, name, x)

    return Kinks(where=where, distance=distance, onto=onto, away=away)


def half_smallest_gap(values: np.ndarray) -> float:
    """Half the smallest gap between any two of ``values``: no perturbation of smaller max-norm can
    make two of them meet (``inf`` for fewer than two)."""
    flat = np.sort(np.asarray(values, dtype=np.float64).ravel())
    return float(np.min(np.diff(flat)) / 2) if flat.size > 1 else np.inf


def ties(name: str, *, where: str = "", grid: Sequence[float] = (0.5, 1.0, 2.0)) -> Kinks:
    r"""A kink wherever two values of input ``name`` are equal: an op that picks among values, such as
    max pooling, changes its pick there.

    The distance is half the smallest gap between any two values (conservative: two values that never
    compete count too). ``onto`` rounds every value to a coarse grid (a step drawn from ``grid``), so
    that many values tie, maxima included, and copies one value onto another if none do. There is no
    ``away``: draw tie-free values with :func:`gradproof.core.strategies.distinct_values`.

    >>> ties("x").where
    'a tie between two values of x'
    """

    def distance(example: Example) -> float:
        return half_smallest_gap(example.inputs[name])

    def onto(example: Example, rng: np.random.Generator) -> Example:
        step = float(rng.choice(grid))
        x = np.round(example.inputs[name] / step) * step
        if x.size > 1 and half_smallest_gap(x) > 0:  # too few values to share a grid point
            i, j = rng.choice(x.size, size=2, replace=False)
            x.flat[j] = x.flat[i]
        return with_input(example, name, x)

    return Kinks(where=where or f"a tie between two values of {name}", distance=distance, onto=onto)


def snapped(example: Example, names: Sequence[str], rng: np.random.Generator) -> Example:
    """``example`` with some elements of each input in ``names`` moved onto :data:`SIMPLE_VALUES`,
    where undeclared kinks hide; snapped elements that share a value also tie with each other.

    Only values between the input's own smallest and largest are used, so that an input drawn from an
    interval (probabilities in (0, 1), scales > 0) stays in it; an input with no simple value in its
    range is left as it is.

    >>> from gradproof.core.registry import Example
    >>> ex = snapped(Example({"p": np.array([0.2, 0.7, 0.9])}), ["p"], np.random.default_rng(1))
    >>> set(ex.inputs["p"]) <= {0.2, 0.7, 0.9, 0.5}
    True
    """
    for name in names:
        x = example.inputs[name]
        if x.size == 0 or not np.issubdtype(x.dtype, np.floating):
            continue
        simple = [v for v in SIMPLE_VALUES if x.min() <= v <= x.max()]
        if not simple:
            continue
        moved = x.copy()
        mask = some_elements(x.shape, rng)
        moved[mask] = rng.choice(simple, size=x.shape)[mask]
        example = with_input(example, name, moved)
    return example
