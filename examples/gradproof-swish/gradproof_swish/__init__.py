r"""Two activations as a gradproof plug-in living outside gradproof's own tree: swish (SiLU), smooth,
and softshrink, with a hyperparameter and a kink on each side."""

import numpy as np
from hypothesis import strategies as st

from gradproof import Example, kinks, op
from gradproof import strategies as gs


def swish_forward(x):
    r"""Swish, :math:`\mathrm{out} = x\, \sigma(x)` with :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        ``(x, sigma(x))``, for :func:`swish_backward`.
    """
    z = np.exp(-np.abs(x))
    sigma = np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    return x * sigma, (x, sigma)


def swish_backward(dout, cache):
    r"""Gradient of swish: :math:`dx = \mathrm{dout} \cdot \sigma(x) \bigl(1 + x (1 - \sigma(x))\bigr)`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`swish_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    x, sigma = cache
    return dout * sigma * (1.0 + x * (1.0 - sigma))


@op(
    "swish",
    forward=swish_forward,
    backward=swish_backward,
    examples=gs.shapes(min_dims=1, max_dims=4).flatmap(
        lambda shape: gs.arrays(shape).map(lambda x: Example(inputs={"x": x}))
    ),
    differentiable=("x",),
)
def swish_twin(x):
    import torch.nn.functional as F

    return F.silu(x)


def softshrink_forward(x, *, lambd=0.5):
    r"""Soft shrinkage, as ``torch.nn.functional.softshrink``:

    .. math:: \mathrm{out} = x - \lambda \text{ for } x > \lambda, \quad
              x + \lambda \text{ for } x < -\lambda, \quad 0 \text{ otherwise}

    Parameters
    ----------
    x : ndarray of any shape
    lambd : float
        :math:`\lambda \ge 0`.

    Returns
    -------
    out : ndarray of x's shape
    cache : ndarray
        Where :math:`|x| > \lambda`, for :func:`softshrink_backward`.
    """
    outside = np.abs(x) > lambd
    return np.where(outside, x - np.sign(x) * lambd, 0.0), outside


def softshrink_backward(dout, cache):
    r"""Gradient of soft shrinkage: :math:`dx = \mathrm{dout}` where :math:`|x| > \lambda`, else 0
    (at :math:`|x| = \lambda`, 0, as PyTorch).

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : ndarray from :func:`softshrink_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    outside = cache
    return dout * outside


def at_plus_minus_lambd(hparams):
    return (-hparams["lambd"], hparams["lambd"])


# The kinks move with the hyperparameter: declared once, they keep the examples away from x = +-lambd
# and give the at-kink examples, where the op must agree with torch.
SHRINK_EDGES = kinks.at_values("x", at_plus_minus_lambd, where="x = +-lambd")

softshrink_examples = st.tuples(
    gs.shapes(min_dims=1, max_dims=4).flatmap(gs.arrays), gs.floats(min_value=0.1, max_value=2.0)
).map(lambda pair: Example(inputs={"x": pair[0]}, hparams={"lambd": pair[1]}))


@op(
    "softshrink",
    forward=softshrink_forward,
    backward=softshrink_backward,
    examples=SHRINK_EDGES.keep_away(softshrink_examples),
    differentiable=("x",),
    kinks=SHRINK_EDGES,
)
def softshrink_twin(x, *, lambd):
    import torch.nn.functional as F

    return F.softshrink(x, lambd)
