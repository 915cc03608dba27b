r"""Joining branches: the residual add of a ResNet block and the channel concatenation of an
Inception module."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op

MAX_BRANCHES = 4


def add_forward(x, y):
    r"""Residual add, :math:`\mathrm{out} = x + y`.

    Parameters
    ----------
    x : ndarray of any shape
    y : ndarray of x's shape

    Returns
    -------
    out : ndarray of x's shape
    cache : None
    """
    return x + y, None


def add_backward(dout, cache):
    r"""Gradients of the add: both branches receive the upstream gradient, :math:`dx = dy = \mathrm{dout}`.

    Returns
    -------
    dx, dy : ndarray of dout's shape
    """
    return dout.copy(), dout.copy()


def concat_forward(*xs, axis=1):
    r"""Concatenation along ``axis`` (channels, for NCHW), as ``torch.cat``.

    Parameters
    ----------
    *xs : ndarrays
        Equal shapes but along ``axis``.
    axis : int

    Returns
    -------
    out : ndarray
        ``xs[0]``'s shape, with the sizes along ``axis`` added up.
    cache : tuple
        ``(sizes, axis)``, for :func:`concat_backward`.
    """
    return np.concatenate(xs, axis=axis), ([x.shape[axis] for x in xs], axis)


def concat_backward(dout, cache):
    r"""Gradients of the concatenation: ``dout`` split back into the pieces.

    Returns
    -------
    dxs : tuple of ndarrays
        One per input, of its shape.
    """
    sizes, axis = cache
    return tuple(part.copy() for part in np.split(dout, np.cumsum(sizes)[:-1], axis=axis))


@st.composite
def add_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=4))
    return Example(inputs={"x": draw(gs.arrays(shape)), "y": draw(gs.arrays(shape))})


@st.composite
def concat_examples(draw):
    shape = list(draw(gs.shapes(min_dims=1, max_dims=4)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    inputs = {}
    for i in range(draw(st.integers(1, MAX_BRANCHES))):
        shape[axis] = draw(st.integers(1, 4))
        inputs[f"x{i}"] = draw(gs.arrays(tuple(shape)))
    return Example(inputs=inputs, hparams={"axis": axis})


@op("add", forward=add_forward, backward=add_backward, examples=add_examples(), differentiable=("x", "y"))
def add_twin(x, y):
    return x + y


@op(
    "concat",
    forward=concat_forward,
    backward=concat_backward,
    examples=concat_examples(),
    # Branches beyond the example's count are absent, like an optional bias.
    differentiable=tuple(f"x{i}" for i in range(MAX_BRANCHES)),
)
def concat_twin(*xs, axis):
    import torch

    return torch.cat(xs, dim=axis)
