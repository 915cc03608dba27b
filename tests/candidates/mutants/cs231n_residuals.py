"""cs231n API: mistakes outside the catalogue, named by the shape of their error (tests/test_grading.py):
dw kept for the last example only, dw transposed, and layer norm's dx without its mean term."""

import numpy as np


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    x2 = x.reshape(x.shape[0], -1)
    dw = np.zeros_like(w)
    for n in range(x.shape[0]):
        dw = np.outer(x2[n], dout[n])  # = where += belongs: only the last example's remains
    return (dout @ w.T).reshape(x.shape), dw, dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, 1 / np.sqrt(var + eps))


def layernorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    dx_hat = dout * gamma
    # The variance's term is there, the mean's term (- mean(dx_hat)) is not.
    dx = inv_std * (dx_hat - x_hat * (dx_hat * x_hat).mean(axis=1, keepdims=True))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
