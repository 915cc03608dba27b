"""coursera API: average pooling whose backward copies dA to its window instead of sharing it out
(tests/test_grading.py)."""

import numpy as np


def pool_forward(A_prev, hparameters, mode="max"):
    f, s = hparameters["f"], hparameters["stride"]
    m, h, w, c = A_prev.shape
    A = np.zeros((m, 1 + (h - f) // s, 1 + (w - f) // s, c))
    for i in range(A.shape[1]):
        for j in range(A.shape[2]):
            window = A_prev[:, i * s : i * s + f, j * s : j * s + f, :]
            A[:, i, j, :] = window.max(axis=(1, 2)) if mode == "max" else window.mean(axis=(1, 2))
    return A, (A_prev, hparameters)


def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    f, s = hparameters["f"], hparameters["stride"]
    dA_prev = np.zeros_like(A_prev)
    for a in range(A_prev.shape[0]):
        for i in range(dA.shape[1]):
            for j in range(dA.shape[2]):
                for c in range(A_prev.shape[3]):
                    window = A_prev[a, i * s : i * s + f, j * s : j * s + f, c]
                    if mode == "max":
                        mask = window == np.max(window)
                        dA_prev[a, i * s : i * s + f, j * s : j * s + f, c] += mask * dA[a, i, j, c]
                    else:
                        # distribute_value without the division by f * f
                        dA_prev[a, i * s : i * s + f, j * s : j * s + f, c] += dA[a, i, j, c] * np.ones((f, f))
    return dA_prev
