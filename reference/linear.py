r"""Affine (fully connected) layer."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op


def affine_forward(x, w, b):
    r"""Affine map of each example, its trailing dimensions flattened.

    .. math:: \mathrm{out} = \tilde{x} w + b, \qquad \tilde{x} = x \text{ reshaped to } (N, D)

    Parameters
    ----------
    x : ndarray of shape (N, d1, ..., dk)
        A batch of N examples; :math:`D = d_1 \cdots d_k`.
    w : ndarray of shape (D, M)
    b : ndarray of shape (M,)

    Returns
    -------
    out : ndarray of shape (N, M)
    cache : tuple
        ``(x, w)``, for :func:`affine_backward`.
    """
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    r"""Gradients of the affine layer.

    .. math::
        dx = \mathrm{dout}\, w^\top \text{ (reshaped to x's shape)}, \qquad
        dw = \tilde{x}^\top \mathrm{dout}, \qquad
        db = \textstyle\sum_n \mathrm{dout}_n

    Parameters
    ----------
    dout : ndarray of shape (N, M)
    cache : tuple from :func:`affine_forward`

    Returns
    -------
    dx : ndarray of shape (N, d1, ..., dk)
    dw : ndarray of shape (D, M)
    db : ndarray of shape (M,)
    """
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


@st.composite
def affine_examples(draw):
    n = draw(st.integers(1, 4))
    trailing = draw(gs.shapes(min_dims=1, max_dims=3))
    m = draw(st.integers(1, 5))
    d = math.prod(trailing)
    return Example(
        inputs={
            "x": draw(gs.arrays((n, *trailing))),
            "w": draw(gs.arrays((d, m))),
            "b": draw(gs.arrays((m,))),
        }
    )


@op(
    "affine",
    forward=affine_forward,
    backward=affine_backward,
    examples=affine_examples(),
    differentiable=("x", "w", "b"),
)
def affine_twin(x, w, b):
    import torch.nn.functional as F

    return F.linear(x.flatten(1), w.T, b)
