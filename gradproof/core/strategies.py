"""Hypothesis strategies for op inputs that are valid by construction.

Every value is a bounded float64 with no NaN, infinity or subnormal. Kinks and ties are avoided by
building values away from them (:func:`away_from`, :func:`distinct_values`), never by ``assume()``,
which would throw most examples away and starve the search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

BOUND = 4.0
"""Default bound on input magnitudes: wide enough to reach saturation of sigmoid and tanh, small
enough that squares, exponentials and sums of a few hundred terms keep float64 rounding far below
the finite-difference tolerance."""

KINK_MARGIN = 1e-3
"""Default distance kept from kinks and between values that must not tie: a thousand times the
finite-difference step (1e-6), so a central difference never straddles one."""


def margin_after_sums(margin: float = KINK_MARGIN, *, scale: float = 4 * BOUND) -> float:
    """``margin`` widened by the rounding of a few additions of numbers up to ``scale``.

    A value placed relative to another (``target = pred + offset``) sits ``|offset|`` from it only up
    to rounding: 1.0 + 0.001 is 0.00099999999999989 from 1.0. Draw offsets ``away_from`` the kink by
    this much to keep the full margin after the sum.

    >>> margin_after_sums(1e-3) > 1e-3
    True
    """
    return margin + 16 * float(np.spacing(scale))


def floats(*, min_value: float = -BOUND, max_value: float = BOUND) -> st.SearchStrategy[float]:
    """Finite, non-subnormal float64 scalars in ``[min_value, max_value]``.

    >>> floats(min_value=0.5, max_value=2.0).example()  # doctest: +SKIP
    1.25
    """
    if not min_value <= max_value:
        raise ValueError(f"floats: need min_value <= max_value, got {min_value} > {max_value}")
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def away_from(
    kinks: Sequence[float] = (0.0,),
    *,
    margin: float = KINK_MARGIN,
    min_value: float = -BOUND,
    max_value: float = BOUND,
) -> st.SearchStrategy[float]:
    """Floats in ``[min_value, max_value]`` at least ``margin`` away from every point of ``kinks``.

    The allowed intervals are computed once; a value is drawn from one of them, so no example is
    rejected.

    >>> away_from((0.0,), margin=0.01).example()  # doctest: +SKIP
    -0.01
    """
    if margin <= 0:
        raise ValueError(f"away_from: margin must be > 0, got {margin}")
    edges = sorted(kinks)
    intervals = []
    low = min_value
    for kink in edges:
        below = _step_until(kink - margin, lambda b, k=kink: k - b >= margin, -math.inf)
        if below >= low:
            intervals.append((low, below))
        low = max(low, _step_until(kink + margin, lambda a, k=kink: a - k >= margin, math.inf))
    if low <= max_value:
        intervals.append((low, max_value))
    if not intervals:
        raise ValueError(
            f"away_from: no value in [{min_value}, {max_value}] is {margin} away from kinks {list(kinks)}"
        )
    return st.one_of([floats(min_value=a, max_value=b) for a, b in intervals])


def _step_until(value: float, holds, toward: float) -> float:
    """``value`` moved toward ``toward`` one float at a time until ``holds(value)``: ``kink + margin``
    can round to a float a hair closer to the kink than ``margin``."""
    while not holds(value):
        value = math.nextafter(value, toward)
    return value


def arrays(shape, *, elements: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with ``elements`` (default :func:`floats`).

    >>> arrays((2, 3)).example().shape  # doctest: +SKIP
    (2, 3)
    """
    return hnp.arrays(np.float64, shape, elements=floats() if elements is None else elements)


@st.composite
def distinct_values(
    draw, shape, *, margin: float = KINK_MARGIN, min_value: float = -BOUND, max_value: float = BOUND
) -> np.ndarray:
    """float64 arrays of ``shape`` whose values differ pairwise by at least ``margin``.

    For ops that pick among values (max pooling), where a tie is a kink. Built as a shuffled
    increasing sequence with gaps of at least ``margin``, so it never needs to reject a draw.

    >>> x = distinct_values((3, 3)).example()  # doctest: +SKIP
    >>> bool(np.min(np.diff(np.sort(x.ravel()))) >= 1e-3)
    True
    """
    size = math.prod(shape)
    span = max_value - min_value
    if size > 1 and (size - 1) * margin > span:
        raise ValueError(
            f"distinct_values: {size} values {margin} apart do not fit in [{min_value}, {max_value}]"
        )
    widest_gap = span / max(size - 1, 1)
    # Summing the gaps and adding the start rounds each difference by a few ulps of the largest
    # value: draw every gap that much wider, or 1.0 + 0.001 - 1.0 comes out below the margin.
    slack = 16 * np.spacing(max(abs(min_value), abs(max_value)) + span)
    if margin + slack > widest_gap:
        widest_gap = margin + slack
    gaps = draw(
        hnp.arrays(np.float64, size - 1, elements=floats(min_value=margin + slack, max_value=widest_gap))
    )
    ladder = np.concatenate([[0.0], np.cumsum(gaps)])
    # Rounding in the cumulative sum can push the top of the ladder a hair past `span`.
    start = draw(floats(min_value=min_value, max_value=max(min_value, max_value - ladder[-1])))
    order = draw(st.permutations(range(size)))
    return (start + ladder)[np.asarray(order, dtype=np.intp)].reshape(shape)


def shapes(
    *, min_dims: int = 1, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Small array shapes: every side in ``[min_side, max_side]``.

    >>> shapes(min_dims=2, max_dims=2).example()  # doctest: +SKIP
    (3, 1)
    """
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for the check's own random draws (directions, upstream gradients), so that they too
    are reproduced and shrunk by Hypothesis.

    Draw the seed *after* the example: drawn before a ``flatmap`` of shapes, it made Hypothesis
    discard about 40% of generated examples as invalid (120 of 300, against 35 drawn after), at
    no gain."""
    return st.integers(min_value=0, max_value=2**32 - 1)
