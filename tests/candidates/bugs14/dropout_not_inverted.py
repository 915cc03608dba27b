"""Planted bug: dropout (2018-on convention, ``p`` = probability of KEEPING a unit) that is not
inverted: the train-mode forward multiplies by the 0/1 mask without the ``1 / p`` scaling, and
the test-mode forward returns ``x`` as it is (so train and test outputs have different expected
values). The backward is consistent with this forward (``dout * mask``), so only the forward's
values are wrong. The op that should lose points: dropout (forward, train mode).
"""
from builtins import range
import numpy as np


def dropout_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])

    mask = None
    out = None
    if mode == 'train':
        mask = (np.random.rand(*x.shape) < p)  # BUG: no / p
        out = x * mask
    elif mode == 'test':
        out = x

    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param['mode']

    dx = None
    if mode == 'train':
        dx = dout * mask
    elif mode == 'test':
        dx = dout
    return dx
