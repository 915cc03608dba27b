r"""2-D convolution (cross-correlation, as in PyTorch), NCHW."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op
from reference.windows import pad, pair, scatter_windows, unpad, windows


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1):
    r"""2-D convolution of a batch of images, as ``torch.nn.functional.conv2d``.

    Like every deep-learning library, this is a cross-correlation (the kernel is not flipped):

    .. math::
        \mathrm{out}[n, f, i, j] = b_f + \sum_{c \in \text{group of } f} \sum_{a, b}
            w[f, c, a, b]\; x_p[n, c,\, i s_h + a d_h,\, j s_w + b d_w]

    where :math:`x_p` is ``x`` zero-padded by :math:`p_h, p_w`, and the channels of ``x`` and the
    filters are split into ``groups`` equal groups, filter group :math:`g` seeing channel group
    :math:`g` only.

    Computed as im2col: the windows of :math:`x_p` are a strided view, copied once into a
    (G, C/G KH KW, N Ho Wo) matrix, then one matrix product per group.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    w : ndarray of shape (F, C / groups, KH, KW)
    b : ndarray of shape (F,), optional
    stride, padding, dilation : int or (int, int)
        Along (H, W). Padding is with zeros.
    groups : int
        Divides both C and F.

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo)
        :math:`H_o = \lfloor (H + 2 p_h - d_h (KH - 1) - 1) / s_h \rfloor + 1`, and likewise
        :math:`W_o`.
    cache : tuple
        For :func:`conv2d_backward`.
    """
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    n, c, _, _ = x.shape
    f, cg, kh, kw = w.shape
    if c != cg * groups or f % groups:
        raise ValueError(f"conv2d: x has {c} channels and w {w.shape}: need C = C/G * G and G dividing F")
    xp = pad(x, padding)
    win = windows(xp, (kh, kw), stride, dilation)
    ho, wo = win.shape[2:4]
    # Copied as (C KH KW, N Ho Wo): the copy reads along image rows, and dw is one product per group.
    cols = win.transpose(1, 4, 5, 0, 2, 3).reshape(groups, cg * kh * kw, n * ho * wo)
    out = (w.reshape(groups, f // groups, cg * kh * kw) @ cols).reshape(f, n, ho, wo).transpose(1, 0, 2, 3)
    # One copy into (N, F, Ho, Wo) order, with the bias (a ufunc would keep the transposed order).
    out = np.add(out, b[:, None, None], order="C") if b is not None else np.ascontiguousarray(out)
    return out, (xp.shape, w, cols, b is not None, stride, padding, dilation, groups)


def conv2d_backward(dout, cache):
    r"""Gradients of the 2-D convolution.

    .. math::
        dw[f, c, a, b] = \sum_{n, i, j} \mathrm{dout}[n, f, i, j]\; x_p[n, c, i s_h + a d_h, j s_w + b d_w]

    :math:`dx_p` gathers :math:`\sum_f \mathrm{dout}[n, f, i, j]\, w[f, c, a, b]` back to every
    position window :math:`(i, j)` read at offset :math:`(a, b)`, then the padding is cut off;
    :math:`db_f = \sum_{n, i, j} \mathrm{dout}[n, f, i, j]`.

    Parameters
    ----------
    dout : ndarray of shape (N, F, Ho, Wo)
    cache : tuple from :func:`conv2d_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dw : ndarray of shape (F, C / groups, KH, KW)
    db : ndarray of shape (F,), or None when the forward had no bias
    """
    padded_shape, w, cols, has_bias, stride, padding, dilation, groups = cache
    n, c = padded_shape[:2]
    f, cg, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    dout_groups = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(groups, f // groups, n * ho * wo)
    dw = (dout_groups @ cols.transpose(0, 2, 1)).reshape(w.shape)
    dcols = w.reshape(groups, f // groups, cg * kh * kw).transpose(0, 2, 1) @ dout_groups
    dwin = dcols.reshape(c, kh, kw, n, ho, wo).transpose(3, 0, 4, 5, 1, 2)  # (N, C, Ho, Wo, KH, KW)
    dx = unpad(scatter_windows(dwin, padded_shape, stride, dilation), padding)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db


def int_or_pair(low: int, high: int):
    """An int, or an (H, W) pair of them: both forms reach the op, as both reach PyTorch's."""
    side = st.integers(low, high)
    return st.one_of(side, st.tuples(side, side))


@st.composite
def conv2d_examples(draw):
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cg, fg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, padding, dilation = draw(int_or_pair(1, 3)), draw(int_or_pair(0, 2)), draw(int_or_pair(1, 2))
    sides = []
    for k, p, d in zip(kernel, pair(padding), pair(dilation), strict=True):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)  # the smallest side with one output row
        sides.append(draw(st.integers(smallest, smallest + 4)))
    inputs = {
        "x": draw(gs.arrays((n, cg * groups, *sides))),
        "w": draw(gs.arrays((fg * groups, cg, *kernel))),
    }
    if draw(st.booleans()):
        inputs["b"] = draw(gs.arrays((fg * groups,)))
    return Example(
        inputs=inputs, hparams={"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    )


@op(
    "conv2d",
    forward=conv2d_forward,
    backward=conv2d_backward,
    examples=conv2d_examples(),
    differentiable=("x", "w", "b"),
)
def conv2d_twin(x, w, b=None, *, stride, padding, dilation, groups):
    import torch.nn.functional as F

    return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
