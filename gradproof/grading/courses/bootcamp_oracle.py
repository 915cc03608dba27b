"""The NHWC convention with explicit arguments that many machine-learning bootcamp repositories
use, implemented over the reference: the oracle of the ``bootcamp`` adapter.

* ``conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1))`` returns
  ``activation(Z)``, with A_prev (m, h, w, c_prev), W (kh, kw, c_prev, c_new), b (1, 1, 1, c_new);
  ``"same"`` pads ``((h - 1) * sh + kh - h) / 2`` rows on each side (so the output keeps the
  input's size), ``"valid"`` none. There is no cache: ``conv_backward(dZ, A_prev, W, b,
  padding="same", stride=(1, 1))`` takes the inputs again and returns ``(dA_prev, dW, db)``,
  ``dZ`` being the gradient of ``Z``, before the activation.
* ``pool_forward(A_prev, kernel_shape, stride=(1, 1), mode="max"|"avg")`` and ``pool_backward(dA,
  A_prev, kernel_shape, stride=(1, 1), mode="max")``, without padding. Max pooling's backward
  gives every tied maximum of a window the gradient (the mask ``x == np.max(x)`` these
  repositories write, after the Coursera notebook's; :mod:`gradproof.grading.courses.tie_rules`).
* ``update_variables_Adam(alpha, beta1, beta2, epsilon, var, grad, v, s, t) -> (var, v, s)``, with
  the caller counting ``t`` from 1, and ``update_variables_momentum(alpha, beta1, var, grad, v)``
  and ``update_variables_RMSProp(alpha, beta2, epsilon, var, grad, s)``.
"""

from __future__ import annotations

import numpy as np

from gradproof.grading.courses.tie_rules import max_pool_backward
from reference.conv import conv2d_backward, conv2d_forward
from reference.pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_forward

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


def same_padding(size: int, kernel: int, stride: int) -> int:
    """``"same"`` padding on each side; the examples keep ``(size - 1) * stride + kernel - size``
    even, where the rounding these repositories disagree on (int, ceil) does not arise."""
    total = (size - 1) * stride + kernel - size
    if total % 2:
        raise ValueError(
            f"'same' padding of {total} rows is not even: size {size}, kernel {kernel}, stride {stride}"
        )
    return total // 2


def _padding(A_prev, W, padding, stride):
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return tuple(same_padding(A_prev.shape[1 + i], W.shape[i], stride[i]) for i in range(2))
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


def _conv(A_prev, W, b, padding, stride):
    return conv2d_forward(
        A_prev.transpose(TO_NCHW),
        W.transpose(3, 2, 0, 1),
        b.reshape(-1),
        stride=tuple(stride),
        padding=_padding(A_prev, W, padding, stride),
    )


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    out, _ = _conv(A_prev, W, b, padding, stride)
    return activation(out.transpose(TO_NHWC))


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    _, cache = _conv(A_prev, W, b, padding, stride)
    dx, dw, db = conv2d_backward(np.ascontiguousarray(dZ.transpose(TO_NCHW)), cache)
    return dx.transpose(TO_NHWC), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode="max"):
    pool = {"max": max_pool2d_forward, "avg": avg_pool2d_forward}[mode]
    out, _ = pool(A_prev.transpose(TO_NCHW), kernel_size=tuple(kernel_shape), stride=tuple(stride))
    return out.transpose(TO_NHWC)


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode="max"):
    dA = np.ascontiguousarray(dA.transpose(TO_NCHW))
    x = A_prev.transpose(TO_NCHW)
    if mode == "max":
        dx = max_pool_backward(x, dA, tuple(kernel_shape), tuple(stride), "every")
    else:
        _, cache = avg_pool2d_forward(x, kernel_size=tuple(kernel_shape), stride=tuple(stride))
        dx = avg_pool2d_backward(dA, cache)
    return dx.transpose(TO_NHWC)


def update_variables_momentum(alpha, beta1, var, grad, v):
    v = beta1 * v + (1 - beta1) * grad
    return var - alpha * v, v


def update_variables_RMSProp(alpha, beta2, epsilon, var, grad, s):
    s = beta2 * s + (1 - beta2) * grad**2
    return var - alpha * grad / (np.sqrt(s) + epsilon), s


def update_variables_Adam(alpha, beta1, beta2, epsilon, var, grad, v, s, t):
    v = beta1 * v + (1 - beta1) * grad
    s = beta2 * s + (1 - beta2) * grad**2
    v_hat = v / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    return var - alpha * v_hat / (np.sqrt(s_hat) + epsilon), v, s
