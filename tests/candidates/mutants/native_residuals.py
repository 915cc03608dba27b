"""native API: mistakes outside the catalogue, named by the shape of their error
(tests/test_diagnose.py): a factor, a flipped sign, a transpose, windows that overwrite each other."""

import numpy as np


def _reduce(values, reduction):
    return values.mean() if reduction == "mean" else values.sum() if reduction == "sum" else values


def _upstream(dout, shape, reduction):
    if reduction == "mean":
        return np.broadcast_to(dout / np.prod(shape), shape)
    return np.broadcast_to(dout, shape) if reduction == "sum" else dout


def mse_loss_forward(pred, target, reduction="mean"):
    diff = pred - target
    return _reduce(diff**2, reduction), (diff, reduction)


def mse_loss_backward(dout, cache):
    diff, reduction = cache
    dpred = diff * _upstream(dout, diff.shape, reduction)  # the 2 of d(diff**2) is missing
    return dpred, -dpred


def nll_loss_forward(log_probs, y, reduction="mean"):
    losses = -log_probs[np.arange(len(y)), y]
    return _reduce(losses, reduction), (log_probs.shape, y, reduction)


def nll_loss_backward(dout, cache):
    shape, y, reduction = cache
    dx = np.zeros(shape)
    dx[np.arange(len(y)), y] = _upstream(dout, (len(y),), reduction)  # the loss is -log p: sign lost
    return dx


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), dout.T @ x2, dout.sum(axis=0)  # dw as (M, D)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def avg_pool2d_forward(x, *, kernel_size, stride=None, padding=0):
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], x.shape[1], ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].mean(axis=(2, 3))
    return out, (x.shape, (kh, kw), (sh, sw), (ph, pw))


def avg_pool2d_backward(dout, cache):
    shape, (kh, kw), (sh, sw), (ph, pw) = cache
    dxp = np.zeros((shape[0], shape[1], shape[2] + 2 * ph, shape[3] + 2 * pw))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            share = dout[:, :, i, j][:, :, None, None] / (kh * kw)
            dxp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] = share * np.ones((kh, kw))  # = for +=
    return dxp[:, :, ph : ph + shape[2], pw : pw + shape[3]]
