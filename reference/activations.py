r"""Element-wise activations. Every function takes and returns arrays of any shape."""

from __future__ import annotations

import numpy as np

from gradproof import strategies as gs
from gradproof.registry import Example, op


def relu_forward(x):
    r"""Rectified linear unit, :math:`\mathrm{out} = \max(x, 0)`.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray of x's shape
    cache : ndarray
        ``x``, for :func:`relu_backward`.
    """
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    r"""Gradient of ReLU: :math:`dx = \mathrm{dout} \cdot [x > 0]`.

    At :math:`x = 0` ReLU has no derivative; like PyTorch, this takes 0 there.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : ndarray from :func:`relu_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    x = cache
    return dout * (x > 0)


def sigmoid_forward(x):
    r"""Logistic sigmoid, :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Evaluated as :math:`e^{x} / (1 + e^{x})` for negative x, so that no exponential overflows.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray of x's shape
    cache : ndarray
        ``out``, for :func:`sigmoid_backward`.
    """
    z = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
    return out, out


def sigmoid_backward(dout, cache):
    r"""Gradient of the sigmoid: :math:`dx = \mathrm{dout} \cdot \sigma(x)(1 - \sigma(x))`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : ndarray from :func:`sigmoid_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    out = cache
    return dout * out * (1.0 - out)


def tanh_forward(x):
    r"""Hyperbolic tangent, :math:`\mathrm{out} = \tanh x`.

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray of x's shape
    cache : ndarray
        ``out``, for :func:`tanh_backward`.
    """
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    r"""Gradient of tanh: :math:`dx = \mathrm{dout} \cdot (1 - \tanh^2 x)`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : ndarray from :func:`tanh_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    out = cache
    return dout * (1.0 - out**2)


def activation_examples(elements=None):
    """Examples of one input ``x`` of any small shape."""
    return gs.shapes(min_dims=1, max_dims=4).flatmap(
        lambda shape: gs.arrays(shape, elements=elements).map(lambda x: Example(inputs={"x": x}))
    )


def distance_to_zero(example: Example) -> float:
    return float(np.min(np.abs(example.inputs["x"])))


@op(
    "relu",
    forward=relu_forward,
    backward=relu_backward,
    examples=activation_examples(gs.away_from((0.0,))),
    differentiable=("x",),
    kink_distance=distance_to_zero,
)
def relu_twin(x):
    import torch

    return torch.relu(x)


@op(
    "sigmoid",
    forward=sigmoid_forward,
    backward=sigmoid_backward,
    # Out to +-30, deep in saturation, where sigma rounds to 0 or 1 and a careless form overflows.
    examples=activation_examples(gs.floats(min_value=-30.0, max_value=30.0)),
    differentiable=("x",),
)
def sigmoid_twin(x):
    import torch

    return torch.sigmoid(x)


@op(
    "tanh",
    forward=tanh_forward,
    backward=tanh_backward,
    examples=activation_examples(),
    differentiable=("x",),
)
def tanh_twin(x):
    import torch

    return torch.tanh(x)
