#!/usr/bin/env python3
"""Back propagation over a convolutional layer"""
import numpy as np


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Performs back propagation over a convolutional layer"""
    m, h_new, w_new, c_new = dZ.shape
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, _ = W.shape
    sh, sw = stride
    if padding == "same":
        ph = int(np.ceil(((h_prev - 1) * sh + kh - h_prev) / 2))
        pw = int(np.ceil(((w_prev - 1) * sw + kw - w_prev) / 2))
    else:
        ph, pw = 0, 0
    padded = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)), mode="constant")
    dA = np.zeros(padded.shape)
    dW = np.zeros(W.shape)
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True)
    for n in range(m):
        for i in range(h_new):
            for j in range(w_new):
                for k in range(c_new):
                    x, y = i * sh, j * sw
                    dA[n, x:x + kh, y:y + kw, :] += W[:, :, :, k] * dZ[n, i, j, k]
                    dW[:, :, :, k] += padded[n, x:x + kh, y:y + kw, :] * dZ[n, i, j, k]
    dA = dA[:, ph:ph + h_prev, pw:pw + w_prev, :]
    return dA, dW, db
