"""cs231n layers in Python 2 that still parse as Python 3: xrange fails when called."""
import numpy as np


def relu_forward(x):
    out = x.copy()
    flat = out.reshape(-1)
    for i in xrange(flat.size):
        flat[i] = max(flat[i], 0)
    return out, x


def relu_backward(dout, cache):
    return dout * (cache > 0)
