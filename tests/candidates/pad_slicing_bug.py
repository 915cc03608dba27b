"""coursera API (NHWC): conv_backward un-pads with the notebook template's own `[pad:-pad]`,
which is empty when pad = 0: right for every padding but none."""

import numpy as np


def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def conv_forward(A_prev, W, b, hparameters):
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, h_prev, w_prev, _ = A_prev.shape
    f, _, _, n_c = W.shape
    n_h, n_w = int((h_prev - f + 2 * pad) / stride) + 1, int((w_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_h, n_w, n_c))
    A_pad = zero_pad(A_prev, pad)
    for h in range(n_h):
        for w in range(n_w):
            window = A_pad[:, h * stride : h * stride + f, w * stride : w * stride + f, :]
            Z[:, h, w, :] = np.tensordot(window, W, axes=([1, 2, 3], [0, 1, 2])) + b[0, 0, 0]
    return Z, (A_prev, W, b, hparameters)


def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    A_pad = zero_pad(A_prev, pad)
    dA_pad, dW = np.zeros_like(A_pad), np.zeros_like(W)
    for h in range(dZ.shape[1]):
        for w in range(dZ.shape[2]):
            window = A_pad[:, h * stride : h * stride + f, w * stride : w * stride + f, :]
            dW += np.tensordot(window, dZ[:, h, w, :], axes=([0], [0]))
            dA_pad[:, h * stride : h * stride + f, w * stride : w * stride + f, :] += np.tensordot(
                dZ[:, h, w, :], W, axes=([1], [3])
            )
    db = dZ.sum(axis=(0, 1, 2)).reshape(b.shape)
    return dA_pad[:, pad:-pad, pad:-pad, :], dW, db
