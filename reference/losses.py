r"""Losses. Each reduces by the mean unless its ``reduction`` hyperparameter says otherwise, as in PyTorch."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradproof import strategies as gs
from gradproof.registry import Example, op

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, not {reduction!r}")


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _reduce_backward(dout, shape, reduction):
    """The upstream gradient of each unreduced loss term, broadcast to ``shape``."""
    if reduction == "mean":
        return np.broadcast_to(dout / np.prod(shape), shape)
    if reduction == "sum":
        return np.broadcast_to(dout, shape)
    return dout


def softmax_cross_entropy_forward(x, y, reduction="mean"):
    r"""Softmax cross-entropy of scores against integer class labels.

    .. math::
        \ell_n = -\log \mathrm{softmax}(x_n)_{y_n}
               = -x_{n, y_n} + \log \textstyle\sum_c e^{x_{n,c}}

    The log-sum-exp is shifted by :math:`\max_c x_{n,c}`, so that no exponential overflows.

    Parameters
    ----------
    x : ndarray of shape (N, C)
        Unnormalised scores (logits).
    y : ndarray of shape (N,), integer
        Labels, :math:`0 \le y_n < C`.
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` averages :math:`\ell_n` over the batch, ``'sum'`` adds them, ``'none'`` returns
        each (as ``torch.nn.functional.cross_entropy``).

    Returns
    -------
    loss : float64 scalar, or ndarray of shape (N,) for ``reduction='none'``
    cache : tuple
        ``(probs, y, reduction)``, for :func:`softmax_cross_entropy_backward`.
    """
    _check_reduction(reduction)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_probs[np.arange(x.shape[0]), y]
    return _reduce(losses, reduction), (np.exp(log_probs), y, reduction)


def softmax_cross_entropy_backward(dout, cache):
    r"""Gradient of softmax cross-entropy.

    .. math:: \frac{\partial \ell_n}{\partial x_{n,c}} = \mathrm{softmax}(x_n)_c - [c = y_n]

    times the upstream gradient of :math:`\ell_n` (``dout / N`` for the mean).

    Parameters
    ----------
    dout : float64 scalar, or ndarray of shape (N,) for ``reduction='none'``
    cache : tuple from :func:`softmax_cross_entropy_forward`

    Returns
    -------
    dx : ndarray of shape (N, C)
    """
    probs, y, reduction = cache
    dx = probs.copy()
    dx[np.arange(probs.shape[0]), y] -= 1.0
    return dx * _reduce_backward(dout, (probs.shape[0],), reduction)[:, None]


def mse_loss_forward(pred, target, reduction="mean"):
    r"""Mean squared error, :math:`\ell_i = (\mathrm{pred}_i - \mathrm{target}_i)^2`.

    Parameters
    ----------
    pred : ndarray of any shape
    target : ndarray of pred's shape
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` averages over *every element*, not only over the batch, as
        ``torch.nn.functional.mse_loss`` does; ``'none'`` returns :math:`\ell` of pred's shape.

    Returns
    -------
    loss : float64 scalar, or ndarray of pred's shape for ``reduction='none'``
    cache : tuple
        ``(pred - target, reduction)``, for :func:`mse_loss_backward`.
    """
    _check_reduction(reduction)
    diff = pred - target
    return _reduce(diff**2, reduction), (diff, reduction)


def mse_loss_backward(dout, cache):
    r"""Gradients of the mean squared error.

    .. math:: d\mathrm{pred}_i = 2 (\mathrm{pred}_i - \mathrm{target}_i)\, \delta_i, \qquad
              d\mathrm{target} = -d\mathrm{pred}

    where :math:`\delta_i` is the upstream gradient of :math:`\ell_i` (``dout / size`` for the mean).

    Parameters
    ----------
    dout : float64 scalar, or ndarray of pred's shape for ``reduction='none'``
    cache : tuple from :func:`mse_loss_forward`

    Returns
    -------
    dpred : ndarray of pred's shape
    dtarget : ndarray of pred's shape
    """
    diff, reduction = cache
    dpred = 2.0 * diff * _reduce_backward(dout, diff.shape, reduction)
    return dpred, -dpred


@st.composite
def softmax_cross_entropy_examples(draw):
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 6))
    return Example(
        inputs={
            "x": draw(gs.arrays((n, c), elements=gs.floats(min_value=-10.0, max_value=10.0))),
            "y": draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1))),
        },
        hparams={"reduction": draw(st.sampled_from(REDUCTIONS))},
    )


@st.composite
def mse_loss_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    return Example(
        inputs={"pred": draw(gs.arrays(shape)), "target": draw(gs.arrays(shape))},
        hparams={"reduction": draw(st.sampled_from(REDUCTIONS))},
    )


@op(
    "softmax_cross_entropy",
    forward=softmax_cross_entropy_forward,
    backward=softmax_cross_entropy_backward,
    examples=softmax_cross_entropy_examples(),
    differentiable=("x",),
)
def softmax_cross_entropy_twin(x, y, reduction):
    import torch.nn.functional as F

    return F.cross_entropy(x, y, reduction=reduction)


@op(
    "mse_loss",
    forward=mse_loss_forward,
    backward=mse_loss_backward,
    examples=mse_loss_examples(),
    differentiable=("pred", "target"),
)
def mse_loss_twin(pred, target, reduction):
    import torch.nn.functional as F

    return F.mse_loss(pred, target, reduction=reduction)
