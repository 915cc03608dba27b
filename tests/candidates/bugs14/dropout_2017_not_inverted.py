"""Planted bug: the 2016-17 template's dropout (p drops a unit) without the inverted scaling: kept
units are x itself, and test mode multiplies by (1 - p). Graded as 2019 it keeps 1 - p of the units,
which looks like the 2017 convention, but no year's dropout accepts it: the message must not send
the student to --convention cs231n-2017 alone. The op that should lose points: dropout."""

import numpy as np


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = np.random.rand(*x.shape) >= p
        out = x * mask
    else:
        out = x * (1 - p)
    return out.astype(x.dtype, copy=False), (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout * (1 - dropout_param["p"])
