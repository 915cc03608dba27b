r"""Local response normalisation across channels (AlexNet), as
``torch.nn.functional.local_response_norm``."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op


def _channel_window_sum(t, before, after):
    r""":math:`\sum_{c' = c - before}^{c + after} t[:, c']`, zero outside the channels."""
    padded = np.pad(t, [(0, 0), (before, after)] + [(0, 0)] * (t.ndim - 2))
    c = t.shape[1]
    return sum(padded[:, offset : offset + c] for offset in range(before + after + 1))


def local_response_norm_forward(x, *, size, alpha=1e-4, beta=0.75, k=1.0):
    r"""Local response normalisation across channels:

    .. math::
        \mathrm{out}_c = x_c \, d_c^{-1}, \qquad
        d_c = \Bigl(k + \frac{\alpha}{n}
            \sum_{c' = c - \lfloor n/2 \rfloor}^{c + \lfloor (n-1)/2 \rfloor} x_{c'}^2\Bigr)^{\beta}

    with :math:`n` = ``size`` and channels outside :math:`[0, C)` counting as zero. PyTorch's
    convention: :math:`\alpha` is divided by :math:`n` (AlexNet's paper does not divide), and an
    even window reaches one channel further back than forward.

    Parameters
    ----------
    x : ndarray of shape (N, C, ...)
        At least one axis after the channels.
    size : int
        :math:`n`, the number of channels in a window.
    alpha, beta, k : float

    Returns
    -------
    out : ndarray of x's shape
    cache : tuple
        For :func:`local_response_norm_backward`.
    """
    base = k + alpha / size * _channel_window_sum(x**2, size // 2, (size - 1) // 2)
    out = x * base**-beta
    return out, (x, base, size, alpha, beta)


def local_response_norm_backward(dout, cache):
    r"""Gradient of local response normalisation. With :math:`b_c = d_c^{1/\beta}` the bracket above,

    .. math::
        dx_j = \mathrm{dout}_j\, b_j^{-\beta}
            - \frac{2 \alpha \beta}{n}\, x_j
              \sum_{c \,:\, j \in \text{window}(c)} \mathrm{dout}_c\, x_c\, b_c^{-\beta - 1}

    and :math:`j \in \text{window}(c)` exactly when :math:`c` lies in the window around :math:`j`
    reflected: from :math:`j - \lfloor (n-1)/2 \rfloor` to :math:`j + \lfloor n/2 \rfloor`.

    Parameters
    ----------
    dout : ndarray of x's shape
    cache : tuple from :func:`local_response_norm_forward`

    Returns
    -------
    dx : ndarray of x's shape
    """
    x, base, size, alpha, beta = cache
    through_window = _channel_window_sum(dout * x * base ** (-beta - 1), (size - 1) // 2, size // 2)
    return dout * base**-beta - 2 * alpha * beta / size * x * through_window


@st.composite
def local_response_norm_examples(draw):
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 6)), *draw(gs.shapes(min_dims=1, max_dims=2)))
    return Example(
        inputs={"x": draw(gs.arrays(shape))},
        hparams={
            "size": draw(st.integers(1, 5)),
            # Up to 2, not only AlexNet's 1e-4: with a tiny alpha the cross-channel term of the
            # gradient is too small for a bug in it to show.
            "alpha": draw(gs.floats(min_value=1e-4, max_value=2.0)),
            "beta": draw(gs.floats(min_value=0.5, max_value=1.0)),
            "k": draw(gs.floats(min_value=1.0, max_value=2.0)),
        },
    )


@op(
    "local_response_norm",
    forward=local_response_norm_forward,
    backward=local_response_norm_backward,
    examples=local_response_norm_examples(),
    differentiable=("x",),
)
def local_response_norm_twin(x, *, size, alpha, beta, k):
    import torch.nn.functional as F

    return F.local_response_norm(x, size, alpha=alpha, beta=beta, k=k)
