#!/usr/bin/env python3
"""Back propagation over a pooling layer"""
import numpy as np


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode="max"):
    """Performs back propagation over a pooling layer"""
    m, h_new, w_new, c_new = dA.shape
    kh, kw = kernel_shape
    sh, sw = stride
    dA_prev = np.zeros(A_prev.shape)
    for n in range(m):
        for i in range(h_new):
            for j in range(w_new):
                for k in range(c_new):
                    x, y = i * sh, j * sw
                    if mode == "max":
                        window = A_prev[n, x:x + kh, y:y + kw, k]
                        mask = window == np.max(window)
                        dA_prev[n, x:x + kh, y:y + kw, k] += mask * dA[n, i, j, k]
                    else:
                        dA_prev[n, x:x + kh, y:y + kw, k] += dA[n, i, j, k] / (kh * kw)
    return dA_prev
