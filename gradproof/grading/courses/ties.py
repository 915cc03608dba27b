"""Explaining a max-pool backward that differs from the oracle's only where a window's maximum is
tied: which rule the candidate follows, and which one its course pins
(:mod:`gradproof.grading.courses.tie_rules`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.compare import tolerance_for
from gradproof.grading.binding import PinnedTies
from gradproof.grading.courses.tie_rules import DESCRIPTIONS, RULES, max_pool_backward, tied_windows

TIE_VALUES = (0.0, 1.0, 2.0)
"""Values of the tied examples: drawn from three, most windows of a few elements tie."""


def pool_values(shape, values: str):
    """Arrays of ``shape`` for max pooling: "distinct" (a tie is a kink: the gradient checks),
    "tied" (from :data:`TIE_VALUES`: the comparison with a course's tie convention), or "any"
    (average pooling, which has no kink)."""
    if values == "distinct":
        return gs.distinct_values(shape)
    return gs.arrays(shape, elements=st.sampled_from(TIE_VALUES) if values == "tied" else None)


def explainer(
    op: str,
    course: str,
    rule: str,
    nchw: Callable,
    window: Callable[[tuple, tuple], str],
) -> Callable:
    """``explain(example, dout, got) -> str or None`` for a max-pool binding whose backward returned
    ``got`` (input name -> gradient) and differs from the oracle's: the rule it follows, when one
    of the usual rules other than the course's accounts for all of it.

    ``nchw(example, dout, dx) -> (x, dout, dx, kernel, stride)`` in NCHW; ``window(start, shape)``
    names a window of the input in the candidate's own layout and argument name.
    """

    def explain(example, dout, got: dict) -> str | None:
        (name,) = got
        x, dout, dx, kernel, stride = nchw(example, dout, got[name])
        tied = tied_windows(x, kernel, stride)
        if not tied or dx.shape != x.shape:
            return None
        tol = tolerance_for("oracle", np.float64, ())

        def same(a, b):
            return np.allclose(a, b, rtol=tol.rtol, atol=tol.atol)

        others = [other for other in RULES if other != rule]
        followed = next((o for o in others if same(dx, max_pool_backward(x, dout, kernel, stride, o))), None)
        if followed is None:
            return None
        (start, shape, top, count), more = tied[0], len(tied) - 1
        where = f"{window(start, shape)} holds its maximum, {top:g}, {count} times"
        if more:
            where += f" (and {more} more window{'s' if more > 1 else ''} with a tie)"
        return (
            f"{op} d{name}: differs only where a pooling window's maximum is tied, which is a convention, "
            f"not a gradient: your backward {DESCRIPTIONS[followed]}; {course} {DESCRIPTIONS[rule]}. "
            f"Away from ties your backward is right. Here {where}"
        )

    return explain


def pinned(binding, examples: Callable, course: str, rule: str, nchw: Callable, window: Callable):
    """``binding`` (max pooling) graded on examples with ties too, ``rule`` being its course's
    convention: ``examples(values)`` draws "distinct" or "tied" values; the rest as
    :func:`explainer`."""
    ties = PinnedTies(
        st.one_of(examples("distinct"), examples("tied")), explainer(binding.op, course, rule, nchw, window)
    )
    return dataclasses.replace(binding, ties=ties)
