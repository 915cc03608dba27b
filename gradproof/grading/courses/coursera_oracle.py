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


def conv_forward(A_prev, W, b, hparameters):
    out, cache = conv2d_forward(
        A_prev.transpose(TO_NCHW),
        W.transpose(3, 2, 0, 1),
        b.reshape(-1),
        stride=hparameters["stride"],
        padding=hparameters["pad"],
    )
    return out.transpose(TO_NHWC), cache


def conv_backward(dZ, cache):
    dx, dw, db = conv2d_backward(np.ascontiguousarray(dZ.transpose(TO_NCHW)), cache)
    return dx.transpose(TO_NHWC), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)


def pool_forward(A_prev, hparameters, mode="max"):
    pool = {"max": max_pool2d_forward, "average": avg_pool2d_forward}[mode]
    out, cache = pool(A_prev.transpose(TO_NCHW), kernel_size=hparameters["f"], stride=hparameters["stride"])
    return out.transpose(TO_NHWC), (A_prev, hparameters, cache)


def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters, cache = cache
    dA = np.ascontiguousarray(dA.transpose(TO_NCHW))
    if mode == "max":
        f, stride = hparameters["f"], hparameters["stride"]
        dx = max_pool_backward(A_prev.transpose(TO_NCHW), dA, (f, f), stride, "every")
    else:
        dx = avg_pool2d_backward(dA, cache)
    return dx.transpose(TO_NHWC)
