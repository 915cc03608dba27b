"""Planted bug: relu_backward writes into the caller's ``dout`` (``dout[x <= 0] = 0; return dout``).

The gradient it returns is right, but the upstream gradient the caller passed in is changed, and
the returned dx *is* the caller's dout: a network that reuses dout (a skip connection, a second
branch) gets wrong gradients. The op that should lose points: relu (backward). affine is correct.
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
    dout[x <= 0] = 0  # BUG: modifies the caller's dout in place
    dx = dout
    return dx
