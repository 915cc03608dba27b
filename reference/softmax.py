r"""Softmax and log-softmax over one axis, shifted by the maximum so that no exponential overflows."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op


def softmax_forward(x, *, axis=-1):
    r"""Softmax along ``axis``:

    .. math:: \mathrm{out}_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \qquad m = \max_j x_j

    (the shift by :math:`m` changes nothing mathematically and keeps every exponent :math:`\le 0`).

    Parameters
    ----------
    x : ndarray of any shape
    axis : int
        The axis that sums to one.

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        ``(out, axis)``, for :func:`softmax_backward`.
    """
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)
    return out, (out, axis)


def softmax_backward(dout, cache):
    r"""Gradient of softmax: :math:`dx_i = s_i \bigl(\mathrm{dout}_i - \sum_j \mathrm{dout}_j s_j\bigr)`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`softmax_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    s, axis = cache
    return s * (dout - (dout * s).sum(axis=axis, keepdims=True))


def log_softmax_forward(x, *, axis=-1):
    r"""Log-softmax along ``axis``: :math:`\mathrm{out}_i = x_i - m - \log \sum_j e^{x_j - m}`,
    :math:`m = \max_j x_j`.

    Parameters
    ----------
    x : ndarray of any shape
    axis : int

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        ``(out, axis)``, for :func:`log_softmax_backward`.
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return out, (out, axis)


def log_softmax_backward(dout, cache):
    r"""Gradient of log-softmax: :math:`dx_i = \mathrm{dout}_i - e^{\mathrm{out}_i} \sum_j \mathrm{dout}_j`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`log_softmax_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    out, axis = cache
    return dout - np.exp(out) * dout.sum(axis=axis, keepdims=True)


@st.composite
def softmax_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=3, max_side=5))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    x = draw(gs.arrays(shape, elements=gs.floats(min_value=-20.0, max_value=20.0)))
    return Example(inputs={"x": x}, hparams={"axis": axis})


@op(
    "softmax",
    forward=softmax_forward,
    backward=softmax_backward,
    examples=softmax_examples(),
    differentiable=("x",),
)
def softmax_twin(x, *, axis):
    import torch

    return torch.softmax(x, dim=axis)


@op(
    "log_softmax",
    forward=log_softmax_forward,
    backward=log_softmax_backward,
    examples=softmax_examples(),
    differentiable=("x",),
)
def log_softmax_twin(x, *, axis):
    import torch

    return torch.log_softmax(x, dim=axis)
