"""A conv2d whose forward is right and whose dw is the kernel flipped (a convolution where the
layer is a cross-correlation): the benchmarks must report it wrong, not time it."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    k = w.shape[-1]
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwij,fcij->nfhw", win, w)
    return out + b[:, None, None], (win, w, xp.shape, stride, padding)


def conv2d_backward(dout, cache):
    win, w, padded_shape, stride, padding = cache
    k = w.shape[-1]
    dw = np.einsum("nfhw,nchwij->fcij", dout, win)[:, :, ::-1, ::-1]  # the bug
    dxp = np.zeros(padded_shape)
    dwin = np.einsum("nfhw,fcij->nchwij", dout, w)
    ho, wo = dout.shape[2:]
    for a in range(k):
        for c in range(k):
            dxp[:, :, a : a + stride * (ho - 1) + 1 : stride, c : c + stride * (wo - 1) + 1 : stride] += dwin[..., a, c]
    h, w_ = padded_shape[2] - 2 * padding, padded_shape[3] - 2 * padding
    return dxp[:, :, padding : padding + h, padding : padding + w_], dw, dout.sum(axis=(0, 2, 3))
