"""The Deep Learning Specialization's "Convolution model - Step by Step" API, NHWC, implemented over
the reference: the oracle of the ``coursera`` adapter.

Arrays are channels-last: ``A_prev`` is (m, n_H_prev, n_W_prev, n_C_prev), ``W`` is (f, f, n_C_prev,
n_C) and ``b`` is (1, 1, 1, n_C). Sizes follow the notebook: ``n_H = int((n_H_prev - f + 2 * pad) /
stride) + 1``, no padding for pooling. The layout is transposed to the reference's NCHW and back.
Max pooling's backward follows the notebook's ``create_mask_from_window`` (``x == np.max(x)``): every
tied maximum of a window gets the whole gradient (:mod:`gradproof.grading.courses.tie_rules`).
"""

from __future__ import annotations

import numpy as np

from gradproof.grading.courses.tie_rules import max_pool_backward
from reference.conv import conv2d_backward, conv2d_forward
from reference.pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_forward

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=(0, 0))


def _conv(A_prev, W, b, hparameters):
    return conv2d_forward(
        A_prev.transpose(TO_NCHW),
        W.transpose(3, 2, 0, 1),
        b.reshape(-1),
        stride=hparameters["stride"],
        padding=hparameters["pad"],
    )


def conv_forward(A_prev, W, b, hparameters):
    """The notebook's cache, ``(A_prev, W, b, hparameters)``: the grader hands the backward this
    cache, made from the example, to grade it without the candidate's forward."""
    out, _ = _conv(A_prev, W, b, hparameters)
    return out.transpose(TO_NHWC), (A_prev, W, b, hparameters)


def conv_backward(dZ, cache):
    _, reference_cache = _conv(*cache)
    dx, dw, db = conv2d_backward(np.ascontiguousarray(dZ.transpose(TO_NCHW)), reference_cache)
    return dx.transpose(TO_NHWC), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)


POOLS = {"max": max_pool2d_forward, "average": avg_pool2d_forward}


def _pool(A_prev, hparameters, mode):
    f, stride = hparameters["f"], hparameters["stride"]
    return POOLS[mode](A_prev.transpose(TO_NCHW), kernel_size=f, stride=stride)


def pool_forward(A_prev, hparameters, mode="max"):
    """The notebook's cache, ``(A_prev, hparameters)``."""
    out, _ = _pool(A_prev, hparameters, mode)
    return out.transpose(TO_NHWC), (A_prev, hparameters)


def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    dA = np.ascontiguousarray(dA.transpose(TO_NCHW))
    if mode == "max":
        f, stride = hparameters["f"], hparameters["stride"]
        dx = max_pool_backward(A_prev.transpose(TO_NCHW), dA, (f, f), stride, "every")
    else:
        dx = avg_pool2d_backward(dA, _pool(A_prev, hparameters, mode)[1])
    return dx.transpose(TO_NHWC)
