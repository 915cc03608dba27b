#!/usr/bin/env python3
import numpy as np
from zero_pad import zero_pad


def conv_forward(A_prev, W, b, hparameters):
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, h_prev, w_prev, _ = A_prev.shape
    f, _, _, n_c = W.shape
    n_h, n_w = (h_prev - f + 2 * pad) // stride + 1, (w_prev - f + 2 * pad) // stride + 1
    Z = np.zeros((m, n_h, n_w, n_c))
    A_pad = zero_pad(A_prev, pad)
    for h in range(n_h):
        for w in range(n_w):
            window = A_pad[:, h * stride:h * stride + f, w * stride:w * stride + f, :]
            Z[:, h, w, :] = np.tensordot(window, W, axes=([1, 2, 3], [0, 1, 2])) + b[0, 0, 0]
    return Z, (A_prev, W, b, hparameters)
