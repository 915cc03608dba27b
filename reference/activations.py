r"""Element-wise activations. Every function takes and returns arrays of any shape."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from gradproof.core import kinks
from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op


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


def leaky_relu_forward(x, *, negative_slope=0.01):
    r"""Leaky ReLU, :math:`\mathrm{out} = x` for :math:`x > 0`, else :math:`\alpha x`.

    Parameters
    ----------
    x : ndarray of any shape
    negative_slope : float
        :math:`\alpha`, the slope for negative inputs.

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        ``(x, negative_slope)``, for :func:`leaky_relu_backward`.
    """
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)


def leaky_relu_backward(dout, cache):
    r"""Gradient of leaky ReLU: :math:`dx = \mathrm{dout}` where :math:`x > 0`, else
    :math:`\alpha\, \mathrm{dout}` (at :math:`x = 0`, :math:`\alpha`, as PyTorch).

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`leaky_relu_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    x, negative_slope = cache
    return np.where(x > 0, dout, negative_slope * dout)


def elu_forward(x, *, alpha=1.0):
    r"""Exponential linear unit, :math:`\mathrm{out} = x` for :math:`x > 0`, else
    :math:`\alpha (e^x - 1)`.

    Parameters
    ----------
    x : ndarray of any shape
    alpha : float

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        ``(x, alpha)``, for :func:`elu_backward`.
    """
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))), (x, alpha)


def elu_backward(dout, cache):
    r"""Gradient of ELU: :math:`dx = \mathrm{dout}` where :math:`x > 0`, else
    :math:`\alpha e^x\, \mathrm{dout}`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`elu_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    x, alpha = cache
    return np.where(x > 0, dout, alpha * np.exp(np.minimum(x, 0.0)) * dout)


# NumPy has no erf; math.erf is the C library's, correctly rounded to within an ulp. Element by
# element in Python is slow, but reference inputs are small.
_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_forward(x):
    r"""Gaussian error linear unit, exact (erf) form, as ``torch.nn.functional.gelu`` with its
    default ``approximate='none'``:

    .. math:: \mathrm{out} = x\, \Phi(x), \qquad \Phi(x) = \tfrac12 \bigl(1 + \mathrm{erf}(x / \sqrt 2)\bigr)

    Parameters
    ----------
    x : ndarray of any shape

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        ``(x, Phi(x))``, for :func:`gelu_backward`.
    """
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    return x * cdf, (x, cdf)


def gelu_backward(dout, cache):
    r"""Gradient of GELU: :math:`dx = \mathrm{dout} \cdot \bigl(\Phi(x) + x\, \varphi(x)\bigr)`,
    :math:`\varphi(x) = e^{-x^2/2} / \sqrt{2\pi}`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`gelu_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    x, cdf = cache
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return dout * (cdf + x * pdf)


def softplus_forward(x, *, beta=1.0, threshold=20.0):
    r"""Softplus, as ``torch.nn.functional.softplus``:

    .. math::
        \mathrm{out} = \tfrac{1}{\beta} \log(1 + e^{\beta x}),
        \text{ or } x \text{ where } \beta x > \text{threshold}

    PyTorch's convention: above the threshold the function *is* the identity, which leaves a jump of
    :math:`\log(1 + e^{-\text{threshold}})/\beta` at :math:`x = \text{threshold}/\beta` (a kink for
    finite differences). Below it, :math:`\log(1 + e^z) = \max(z, 0) + \log(1 + e^{-|z|})` keeps every
    exponential from overflowing.

    Parameters
    ----------
    x : ndarray of any shape
    beta : float
        > 0.
    threshold : float

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        ``(x, beta, threshold)``, for :func:`softplus_backward`.
    """
    z = beta * x
    smooth = (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, x, smooth), (x, beta, threshold)


def softplus_backward(dout, cache):
    r"""Gradient of softplus: :math:`dx = \mathrm{dout} \cdot \sigma(\beta x)`, or :math:`\mathrm{dout}`
    above the threshold.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`softplus_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    x, beta, threshold = cache
    z = beta * x
    sigma, _ = sigmoid_forward(z)
    return np.where(z > threshold, dout, dout * sigma)


def activation_examples(elements=None, **hparams):
    """Examples of one input ``x`` of any small shape, with the hyperparameters drawn from the
    strategies given by name: ``activation_examples(alpha=gs.floats(min_value=0.1, max_value=2.0))``."""
    x = gs.shapes(min_dims=1, max_dims=4).flatmap(lambda shape: gs.arrays(shape, elements=elements))
    return st.tuples(x, st.fixed_dictionaries(hparams)).map(lambda pair: Example({"x": pair[0]}, pair[1]))


AT_ZERO = kinks.at_values("x", (0.0,))
"""The kink of ReLU, leaky ReLU and ELU (for alpha != 1): the slope jumps at x = 0. On it each takes
the slope of its left side, as PyTorch: ReLU 0, leaky ReLU its negative slope, ELU alpha."""


@op(
    "relu",
    forward=relu_forward,
    backward=relu_backward,
    examples=AT_ZERO.keep_away(activation_examples()),
    differentiable=("x",),
    kinks=AT_ZERO,
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


@op(
    "leaky_relu",
    forward=leaky_relu_forward,
    backward=leaky_relu_backward,
    examples=AT_ZERO.keep_away(activation_examples(negative_slope=gs.floats(min_value=0.0, max_value=0.5))),
    differentiable=("x",),
    kinks=AT_ZERO,
)
def leaky_relu_twin(x, *, negative_slope):
    import torch.nn.functional as F

    return F.leaky_relu(x, negative_slope)


@op(
    "elu",
    forward=elu_forward,
    backward=elu_backward,
    examples=AT_ZERO.keep_away(activation_examples(alpha=gs.floats(min_value=0.1, max_value=2.0))),
    differentiable=("x",),
    kinks=AT_ZERO,
)
def elu_twin(x, *, alpha):
    import torch.nn.functional as F

    return F.elu(x, alpha)


@op(
    "gelu",
    forward=gelu_forward,
    backward=gelu_backward,
    examples=activation_examples(),
    differentiable=("x",),
)
def gelu_twin(x):
    import torch.nn.functional as F

    return F.gelu(x)


SOFTPLUS_THRESHOLD = kinks.at_values(
    "x",
    lambda hparams: (hparams["threshold"] / hparams["beta"],),
    where="x = threshold / beta, where softplus jumps to x",
)


@st.composite
def softplus_examples(draw):
    """Values reaching past threshold / beta (down to 0.25), on both sides of the jump."""
    beta = draw(gs.floats(min_value=0.5, max_value=4.0))
    threshold = draw(st.sampled_from([20.0, 5.0, 1.0]))
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    return Example(
        inputs={"x": draw(gs.arrays(shape, elements=gs.floats(min_value=-6.0, max_value=6.0)))},
        hparams={"beta": beta, "threshold": threshold},
    )


@op(
    "softplus",
    forward=softplus_forward,
    backward=softplus_backward,
    examples=SOFTPLUS_THRESHOLD.keep_away(softplus_examples()),
    differentiable=("x",),
    kinks=SOFTPLUS_THRESHOLD,
)
def softplus_twin(x, *, beta, threshold):
    import torch.nn.functional as F

    return F.softplus(x, beta=beta, threshold=threshold)
