"""Planted bug (native API): softmax without subtracting the row maximum, right for standard normal
inputs and NaN for logits of magnitude ~800. The op that should lose points: softmax (forward and
backward comparisons). Its sigmoid, 1 / (1 + exp(-x)), is right everywhere: exp(800) = inf makes
1 / inf = 0, the right value, so it keeps its points."""

import numpy as np


def softmax_forward(x, *, axis=-1):
    e = np.exp(x)
    out = e / e.sum(axis=axis, keepdims=True)
    return out, (out, axis)


def softmax_backward(dout, cache):
    out, axis = cache
    return out * (dout - (dout * out).sum(axis=axis, keepdims=True))


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache * (1 - cache)
