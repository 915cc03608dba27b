r"""Sliding windows over the two spatial axes of an (N, C, H, W) array, and their adjoint.

Convolution and pooling both read an input through its windows and send gradients back through
the same windows. :func:`windows` is a strided *view* (no copy); :func:`scatter_windows` is its
adjoint, adding each window's gradient back where the window came from, with one strided slice-add
per kernel offset (``KH * KW`` of them), which is far faster than ``np.add.at``.
"""

from __future__ import annotations

import numpy as np


def pair(value) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 1) -> (2, 1)``: the form PyTorch accepts for sizes, strides and pads."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    r""":math:`\lfloor (H + 2p - d(k - 1) - 1) / s \rfloor + 1`."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pad(x, padding: tuple[int, int], value: float = 0.0):
    """``x`` of shape (N, C, H, W) padded on both sides of H and W with ``value``."""
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def unpad(xp, padding: tuple[int, int]):
    ph, pw = padding
    return xp[:, :, ph : xp.shape[2] - ph, pw : xp.shape[3] - pw]


def windows(xp, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)):
    r"""A read-only view of shape (N, C, Ho, Wo, KH, KW) of the windows of ``xp``.

    ``view[n, c, i, j, a, b] = xp[n, c, i * sh + a * dh, j * sw + b * dw]``.
    """
    n, c, h, w = xp.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho = (h - dh * (kh - 1) - 1) // sh + 1
    wo = (w - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp,
        shape=(n, c, ho, wo, kh, kw),
        strides=(s0, s1, s2 * sh, s3 * sw, s2 * dh, s3 * dw),
        writeable=False,
    )


def scatter_windows(dwin, padded_shape, stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)):
    """The adjoint of :func:`windows`: ``dwin`` of shape (N, C, Ho, Wo, KH, KW) summed back into an
    array of ``padded_shape`` (N, C, Hp, Wp); overlapping windows add up."""
    _, _, ho, wo, kh, kw = dwin.shape
    (sh, sw), (dh, dw) = stride, dilation
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)
    for a in range(kh):
        for b in range(kw):
            rows = slice(a * dh, a * dh + sh * (ho - 1) + 1, sh)
            cols = slice(b * dw, b * dw + sw * (wo - 1) + 1, sw)
            dxp[:, :, rows, cols] += dwin[:, :, :, :, a, b]
    return dxp
