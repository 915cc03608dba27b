#!/usr/bin/env python3
"""Forward propagation over a pooling layer"""
import numpy as np


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode="max"):
    """Performs forward propagation over a pooling layer"""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw = kernel_shape
    sh, sw = stride
    h_out = int((h_prev - kh) / sh) + 1
    w_out = int((w_prev - kw) / sw) + 1
    pool = np.max if mode == "max" else np.average
    out = np.zeros((m, h_out, w_out, c_prev))
    for i in range(h_out):
        for j in range(w_out):
            out[:, i, j, :] = pool(A_prev[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :], axis=(1, 2))
    return out
