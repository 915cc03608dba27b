"""A correct native relu and nothing else: the smallest candidate, for the command-line test."""

import numpy as np


def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
