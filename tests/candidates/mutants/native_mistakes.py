"""native API: sigmoid's backward without its (1 - sigmoid) factor (tests/test_grading.py)."""

import numpy as np


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, out


def sigmoid_backward(dout, cache):
    return dout * cache  # the factor (1 - sigmoid(x)) is missing
