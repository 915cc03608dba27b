r"""Normalisation layers: batch, layer and group normalisation.

All three standardise ``x`` over some axes and then scale and shift it:

.. math:: \hat{x} = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad \mathrm{out} = \gamma \hat{x} + \beta

with the biased variance :math:`\sigma^2 = \frac1m \sum (x - \mu)^2` over the :math:`m` elements of
each group. They differ only in the axes they normalise over and the axes :math:`\gamma, \beta`
run along, and share the backward of the standardisation:

.. math:: dx = \frac{1}{m \sqrt{\sigma^2 + \epsilon}}
    \Bigl(m\, d\hat{x} - \sum d\hat{x} - \hat{x} \sum d\hat{x}\, \hat{x}\Bigr)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op

EPSILONS = (1e-5, 1e-3, 0.1)


def _standardise(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mean) * inv_std, inv_std, mean, var


def _standardise_backward(dx_hat, x_hat, inv_std, axes):
    m = np.prod([x_hat.shape[a] for a in axes])
    total = dx_hat.sum(axis=axes, keepdims=True)
    projection = (dx_hat * x_hat).sum(axis=axes, keepdims=True)
    return inv_std / m * (m * dx_hat - total - x_hat * projection)


class BatchNormCache(NamedTuple):
    """What :func:`batch_norm_forward` keeps for the backward, and the updated running statistics."""

    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    axes: tuple[int, ...]
    training: bool
    running_mean: np.ndarray
    running_var: np.ndarray


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm_forward(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1, eps=1e-5):
    r"""Batch normalisation over the batch (and spatial) axes, per channel, as
    ``torch.nn.functional.batch_norm``.

    In train mode :math:`\mu, \sigma^2` are the batch's, over :math:`m = N` (for (N, D)) or
    :math:`m = NHW` (for (N, C, H, W)) elements per channel, with the *biased* variance; the running
    statistics are updated with PyTorch's momentum convention, from the *unbiased* variance:

    .. math::
        \mu_{run} \leftarrow (1 - \text{momentum})\, \mu_{run} + \text{momentum}\, \mu, \qquad
        \sigma^2_{run} \leftarrow (1 - \text{momentum})\, \sigma^2_{run}
            + \text{momentum}\, \tfrac{m}{m - 1} \sigma^2

    (cs231n's ``momentum`` is the complement: its ``momentum = 0.9`` is PyTorch's ``0.1``.)
    In eval mode the running statistics are used as :math:`\mu, \sigma^2` and left unchanged.

    Nothing is updated in place: the new running statistics are ``cache.running_mean`` and
    ``cache.running_var``.

    Parameters
    ----------
    x : ndarray of shape (N, C) or (N, C, H, W)
    gamma, beta : ndarray of shape (C,)
    running_mean, running_var : ndarray of shape (C,)
    training : bool
    momentum : float
        In [0, 1].
    eps : float

    Returns
    -------
    out : ndarray of x's shape
    cache : BatchNormCache
    """
    axes = (0, *range(2, x.ndim))
    channel = _channel_shape(x)
    if training:
        x_hat, inv_std, mean, var = _standardise(x, axes, eps)
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError("batch_norm: training needs more than one value per channel")
        new_mean = (1 - momentum) * running_mean + momentum * mean.ravel()
        new_var = (1 - momentum) * running_var + momentum * var.ravel() * m / (m - 1)
    else:
        inv_std = 1.0 / np.sqrt(running_var.reshape(channel) + eps)
        x_hat = (x - running_mean.reshape(channel)) * inv_std
        new_mean, new_var = running_mean.copy(), running_var.copy()
    out = gamma.reshape(channel) * x_hat + beta.reshape(channel)
    return out, BatchNormCache(x_hat, inv_std, gamma.reshape(channel), axes, training, new_mean, new_var)


def batch_norm_backward(dout, cache):
    r"""Gradients of batch normalisation.

    Train mode: :math:`dx` is the standardisation's backward (see the module docstring) of
    :math:`d\hat{x} = \gamma\, \mathrm{dout}`. Eval mode: the statistics are constants, so
    :math:`dx = \gamma\, \mathrm{dout} / \sqrt{\sigma^2_{run} + \epsilon}`. In both,
    :math:`d\gamma = \sum \mathrm{dout}\, \hat{x}` and :math:`d\beta = \sum \mathrm{dout}` over
    every axis but the channel's.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : BatchNormCache from :func:`batch_norm_forward`

    Returns
    -------
    dx : ndarray of x's shape
    dgamma, dbeta : ndarray of shape (C,)
    """
    dx_hat = dout * cache.gamma
    if cache.training:
        dx = _standardise_backward(dx_hat, cache.x_hat, cache.inv_std, cache.axes)
    else:
        dx = dx_hat * cache.inv_std
    return dx, (dout * cache.x_hat).sum(axis=cache.axes), dout.sum(axis=cache.axes)


def layer_norm_forward(x, gamma, beta, *, eps=1e-5):
    r"""Layer normalisation over the trailing axes that ``gamma`` spans, as
    ``torch.nn.functional.layer_norm(x, gamma.shape, gamma, beta, eps)``: each example (each
    leading index) is standardised over its last ``gamma.ndim`` axes.

    Parameters
    ----------
    x : ndarray of shape (N, ..., d1, ..., dk)
    gamma, beta : ndarray of shape (d1, ..., dk)
    eps : float

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        For :func:`layer_norm_backward`.
    """
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    x_hat, inv_std, _, _ = _standardise(x, axes, eps)
    return gamma * x_hat + beta, (x_hat, inv_std, gamma, axes)


def layer_norm_backward(dout, cache):
    r"""Gradients of layer normalisation: :math:`dx` is the standardisation's backward of
    :math:`\gamma\, \mathrm{dout}`; :math:`d\gamma = \sum \mathrm{dout}\, \hat{x}` and
    :math:`d\beta = \sum \mathrm{dout}` over the leading axes.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`layer_norm_forward`

    Returns
    -------
    dx : ndarray of x's shape
    dgamma, dbeta : ndarray of gamma's shape
    """
    x_hat, inv_std, gamma, axes = cache
    leading = tuple(range(x_hat.ndim - len(axes)))
    dx = _standardise_backward(dout * gamma, x_hat, inv_std, axes)
    return dx, (dout * x_hat).sum(axis=leading), dout.sum(axis=leading)


def group_norm_forward(x, gamma, beta, *, num_groups, eps=1e-5):
    r"""Group normalisation, as ``torch.nn.functional.group_norm``: the C channels split into
    ``num_groups`` groups of consecutive channels, and each example's group is standardised over its
    channels and spatial positions; then a per-channel :math:`\gamma, \beta`.

    Parameters
    ----------
    x : ndarray of shape (N, C, ...)
        Any number of spatial axes, none included.
    gamma, beta : ndarray of shape (C,)
    num_groups : int
        Divides C.
    eps : float

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        For :func:`group_norm_backward`.
    """
    n, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: num_groups {num_groups} does not divide {c} channels")
    grouped = x.reshape(n, num_groups, -1)
    x_hat, inv_std, _, _ = _standardise(grouped, (2,), eps)
    x_hat = x_hat.reshape(x.shape)
    channel = _channel_shape(x)
    out = gamma.reshape(channel) * x_hat + beta.reshape(channel)
    return out, (x_hat, inv_std, gamma.reshape(channel), num_groups)


def group_norm_backward(dout, cache):
    r"""Gradients of group normalisation: :math:`dx` is the standardisation's backward, per example
    and group, of :math:`\gamma\, \mathrm{dout}`; :math:`d\gamma, d\beta` sum over every axis but the
    channel's.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`group_norm_forward`

    Returns
    -------
    dx : ndarray of x's shape
    dgamma, dbeta : ndarray of shape (C,)
    """
    x_hat, inv_std, gamma, num_groups = cache
    n = x_hat.shape[0]
    grouped = (dout * gamma).reshape(n, num_groups, -1)
    dx = _standardise_backward(grouped, x_hat.reshape(n, num_groups, -1), inv_std, (2,)).reshape(x_hat.shape)
    others = (0, *range(2, x_hat.ndim))
    return dx, (dout * x_hat).sum(axis=others), dout.sum(axis=others)


@st.composite
def batch_norm_examples(draw, training=None):
    """Train and eval examples, or only those of the mode ``training`` names."""
    training = draw(st.booleans()) if training is None else training
    c = draw(st.integers(1, 3))
    spatial = draw(st.sampled_from([(), (1, 1), (2, 3), (3, 2)]))
    # Train mode needs two values per channel for the unbiased running variance.
    smallest_batch = 2 if training and not any(s > 1 for s in spatial) else 1
    n = draw(st.integers(smallest_batch, 4))
    return Example(
        inputs={
            "x": draw(gs.arrays((n, c, *spatial))),
            "gamma": draw(gs.arrays((c,))),
            "beta": draw(gs.arrays((c,))),
            "running_mean": draw(gs.arrays((c,))),
            "running_var": draw(gs.arrays((c,), elements=gs.floats(min_value=0.1, max_value=4.0))),
        },
        hparams={
            "training": training,
            "momentum": draw(gs.floats(min_value=0.0, max_value=1.0)),
            "eps": draw(st.sampled_from(EPSILONS)),
        },
    )


@st.composite
def layer_norm_examples(draw):
    normalized = draw(gs.shapes(min_dims=1, max_dims=2))
    leading = draw(gs.shapes(min_dims=1, max_dims=2))
    return Example(
        inputs={
            "x": draw(gs.arrays((*leading, *normalized))),
            "gamma": draw(gs.arrays(normalized)),
            "beta": draw(gs.arrays(normalized)),
        },
        hparams={"eps": draw(st.sampled_from(EPSILONS))},
    )


@st.composite
def group_norm_examples(draw):
    groups, per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    c = groups * per_group
    # A group of one element has no spread to normalise by (PyTorch refuses it).
    spatial = draw(st.sampled_from([(2,), (2, 2), (1, 3)] + ([()] if per_group > 1 else [])))
    return Example(
        inputs={
            "x": draw(gs.arrays((draw(st.integers(1, 3)), c, *spatial))),
            "gamma": draw(gs.arrays((c,))),
            "beta": draw(gs.arrays((c,))),
        },
        hparams={"num_groups": groups, "eps": draw(st.sampled_from(EPSILONS))},
    )


@op(
    "batch_norm",
    forward=batch_norm_forward,
    backward=batch_norm_backward,
    examples=batch_norm_examples(),
    differentiable=("x", "gamma", "beta"),
)
def batch_norm_twin(x, gamma, beta, running_mean, running_var, *, training, momentum, eps):
    import torch.nn.functional as F

    return F.batch_norm(
        x, running_mean, running_var, gamma, beta, training=training, momentum=momentum, eps=eps
    )


@op(
    "layer_norm",
    forward=layer_norm_forward,
    backward=layer_norm_backward,
    examples=layer_norm_examples(),
    differentiable=("x", "gamma", "beta"),
)
def layer_norm_twin(x, gamma, beta, *, eps):
    import torch.nn.functional as F

    return F.layer_norm(x, gamma.shape, gamma, beta, eps)


@op(
    "group_norm",
    forward=group_norm_forward,
    backward=group_norm_backward,
    examples=group_norm_examples(),
    differentiable=("x", "gamma", "beta"),
)
def group_norm_twin(x, gamma, beta, *, num_groups, eps):
    import torch.nn.functional as F

    return F.group_norm(x, num_groups, gamma, beta, eps)
