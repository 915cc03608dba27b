#!/usr/bin/env python3
import numpy as np
from zero_pad import zero_pad


def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    A_pad = zero_pad(A_prev, pad)
    dA_pad, dW = np.zeros_like(A_pad), np.zeros_like(W)
    for h in range(dZ.shape[1]):
        for w in range(dZ.shape[2]):
            window = A_pad[:, h * stride:h * stride + f, w * stride:w * stride + f, :]
            dW += np.tensordot(window, dZ[:, h, w, :], axes=([0], [0]))
            dA_pad[:, h * stride:h * stride + f, w * stride:w * stride + f, :] += np.tensordot(
                dZ[:, h, w, :], W, axes=([1], [3]))
    db = dZ.sum(axis=(0, 1, 2)).reshape(b.shape)
    return dA_pad[:, pad:pad + A_prev.shape[1], pad:pad + A_prev.shape[2], :], dW, db
