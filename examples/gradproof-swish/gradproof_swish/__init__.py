r"""The swish activation (SiLU), as a gradproof plug-in living outside gradproof's own tree."""

import numpy as np

from gradproof import Example, op
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
