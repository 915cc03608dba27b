r"""Inverted dropout with a seeded mask, so that forward and backward are deterministic."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op


def dropout_mask(shape, p, seed):
    """The keep-mask of :func:`dropout_forward`: True with probability ``1 - p``, from
    ``np.random.default_rng(seed)``."""
    return np.random.default_rng(seed).random(shape) >= p


def dropout_forward(x, *, p, training=True, seed=0):
    r"""Inverted dropout, as ``torch.nn.functional.dropout`` but with a reproducible mask.

    In train mode each element is kept with probability :math:`1 - p` and scaled by
    :math:`1 / (1 - p)`, so that :math:`E[\mathrm{out}] = x`; dropped elements are 0. In eval mode
    the layer is the identity.

    .. math:: \mathrm{out} = \frac{m \odot x}{1 - p}, \qquad m_i \sim \mathrm{Bernoulli}(1 - p)

    ``p`` is the probability of *dropping* a unit, as in PyTorch (cs231n since 2018 passes the
    probability of *keeping* one).

    Parameters
    ----------
    x : ndarray of any shape
    p : float
        In [0, 1).
    training : bool
    seed : int
        Seeds the mask (:func:`dropout_mask`): the same seed gives the same mask.

    Returns
    -------
    out : ndarray of x's shape
    cache : ndarray or None
        The scaled mask :math:`m / (1 - p)`, or None in eval mode, for :func:`dropout_backward`.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training:
        return x.copy(), None
    scaled_mask = dropout_mask(x.shape, p, seed) / (1.0 - p)
    return x * scaled_mask, scaled_mask


def dropout_backward(dout, cache):
    r"""Gradient of dropout: the forward's own mask, :math:`dx = \mathrm{dout} \odot m / (1 - p)`;
    in eval mode :math:`dx = \mathrm{dout}`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : ndarray or None from :func:`dropout_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    return dout.copy() if cache is None else dout * cache


@st.composite
def dropout_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=3, max_side=5))
    return Example(
        inputs={"x": draw(gs.arrays(shape))},
        hparams={
            "p": draw(st.sampled_from([0.0, 0.1, 0.5, 0.9])),
            "training": draw(st.booleans()),
            "seed": draw(st.integers(0, 2**16)),
        },
    )


@op(
    "dropout",
    forward=dropout_forward,
    backward=dropout_backward,
    examples=dropout_examples(),
    differentiable=("x",),
)
def dropout_twin(x, *, p, training, seed):
    # torch draws its own mask, which no seed of ours reproduces: the twin applies our mask with
    # torch ops, so it checks the scaling, the eval mode and the gradient, not the random draw
    # (properties/test_dropout.py checks the draw's statistics).
    import torch

    if not training:
        return x * 1.0
    return x * torch.from_numpy(dropout_mask(tuple(x.shape), p, seed)) / (1.0 - p)
