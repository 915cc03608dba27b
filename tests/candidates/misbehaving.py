"""Native API: every op misbehaves differently, except sigmoid, which is correct and must still get
its points. At import it prints fake pytest output and patches NumPy, which touches its own process
only."""

import os
import sys
import time

import numpy as np

print("==================== 212 passed in 0.01s ====================")
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None


def sigmoid_forward(x):
    out = 1.0 / (1.0 + np.exp(-x))
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1.0 - cache)


def relu_forward(x):
    raise ValueError("relu is not done yet")


def relu_backward(dout, cache):
    return dout


def tanh_forward(x):
    pass  # a stub


def tanh_backward(dout, cache):
    pass


def elu_forward(x, *, alpha=1.0):
    return [float(v) for v in x.ravel()], x  # a list, not an array


def elu_backward(dout, cache):
    return dout


def leaky_relu_forward(x, *, negative_slope=0.01):
    return np.full(x.shape, np.nan), x


def leaky_relu_backward(dout, cache):
    return dout


def softplus_forward(x, *, beta=1.0, threshold=20.0):
    np.log1p(np.exp(x), out=x)  # in place: overwrites the caller's array
    return x.copy(), x


def softplus_backward(dout, cache):
    return dout


def affine_forward(x, w, b):
    return (x.reshape(x.shape[0], -1) @ w + b).T, (x, w)  # transposed


def affine_backward(dout, cache):
    x, w = cache
    return (dout.T @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout.T, dout.sum(axis=1)


def gelu_forward(x):
    time.sleep(60)  # hangs


def gelu_backward(dout, cache):
    return dout


def log_softmax_forward(x, *, axis=-1):
    os._exit(0)  # kills its own process, claiming success


def log_softmax_backward(dout, cache):
    return dout


def softmax_forward(x, *, axis=-1):
    sys.exit(0)


def softmax_backward(dout, cache):
    return dout
