#!/usr/bin/env python3
"""Forward propagation over a convolutional layer"""
import numpy as np


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    """Performs forward propagation over a convolutional layer"""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, c_prev, c_new = W.shape
    sh, sw = stride
    if padding == "same":
        ph = int(((h_prev - 1) * sh + kh - h_prev) / 2)
        pw = int(((w_prev - 1) * sw + kw - w_prev) / 2)
    else:
        ph, pw = 0, 0
    padded = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)), mode="constant")
    h_out = int((h_prev + 2 * ph - kh) / sh) + 1
    w_out = int((w_prev + 2 * pw - kw) / sw) + 1
    Z = np.zeros((m, h_out, w_out, c_new))
    for i in range(h_out):
        for j in range(w_out):
            for k in range(c_new):
                window = padded[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
                Z[:, i, j, k] = np.sum(window * W[:, :, :, k], axis=(1, 2, 3))
    return activation(Z + b)
