"""cs231n layers.py handed in half done: affine's dw still the template's zeros, relu still `pass`."""
import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = np.zeros_like(w)  # TODO
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    out = None
    #############################################################
    # TODO: Implement the ReLU forward pass.                    #
    #############################################################
    pass
    return out, x


def relu_backward(dout, cache):
    pass
