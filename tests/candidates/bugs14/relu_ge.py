"""Planted bug: relu_backward passes the gradient where ``x >= 0`` instead of ``x > 0``.

It differs from the convention (NumPy's and PyTorch's: the gradient of relu at exactly 0 is 0)
only where an input is exactly 0, e.g. after a previous relu or on zero padding. The op that
should lose points: relu (backward), and only on examples with exact zeros. affine is correct.
"""
from builtins import range
import numpy as np


def affine_forward(x, w, b):
    N = x.shape[0]
    out = x.reshape(N, -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0]
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    dx, x = None, cache
    dx = dout * (x >= 0)  # BUG: >= lets the gradient through at x == 0
    return dx
