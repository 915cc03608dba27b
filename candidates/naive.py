"""Loop-based layers, written the way a student writes them first: explicit loops over the batch,
the filters and the output positions, one window at a time. Correct, and slow: the baseline of the
conv benchmarks. Native API (the reference's names and signatures)."""

import numpy as np


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def affine_forward(x, w, b):
    n = x.shape[0]
    out = np.zeros((n, w.shape[1]))
    flat = x.reshape(n, -1)
    for i in range(n):
        for j in range(w.shape[1]):
            out[i, j] = np.dot(flat[i], w[:, j]) + b[j]
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    flat = x.reshape(x.shape[0], -1)
    dx, dw = np.zeros_like(flat), np.zeros_like(w)
    for i in range(flat.shape[0]):
        dx[i] = w @ dout[i]
        dw += np.outer(flat[i], dout[i])
    return dx.reshape(x.shape), dw, dout.sum(axis=0)


def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out, x


def relu_backward(dout, cache):
    dx = dout.copy()
    dx[cache <= 0] = 0
    return dx


def _geometry(x, kernel, stride, padding, dilation):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, _pair(stride), _pair(padding), _pair(dilation)
    _, _, h, w = x.shape
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return (sh, sw), (ph, pw), (dh, dw), ho, wo


def _padded(x, ph, pw, value=0.0):
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, dilation=1, groups=1):
    f, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw), ho, wo = _geometry(x, (kh, kw), stride, padding, dilation)
    xp = _padded(x, ph, pw)
    n = x.shape[0]
    out = np.zeros((n, f, ho, wo))
    per_group = f // groups
    for i in range(n):
        for k in range(f):
            c0 = (k // per_group) * cg
            for r in range(ho):
                for s in range(wo):
                    window = xp[
                        i,
                        c0 : c0 + cg,
                        r * sh : r * sh + dh * (kh - 1) + 1 : dh,
                        s * sw : s * sw + dw * (kw - 1) + 1 : dw,
                    ]
                    out[i, k, r, s] = np.sum(window * w[k]) + (b[k] if b is not None else 0.0)
    return out, (x, w, b, stride, padding, dilation, groups)


def conv2d_backward(dout, cache):
    x, w, b, stride, padding, dilation, groups = cache
    f, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw_), ho, wo = _geometry(x, (kh, kw), stride, padding, dilation)
    xp = _padded(x, ph, pw)
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    per_group = f // groups
    for i in range(x.shape[0]):
        for k in range(f):
            c0 = (k // per_group) * cg
            for r in range(ho):
                for s in range(wo):
                    rows = slice(r * sh, r * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(s * sw, s * sw + dw_ * (kw - 1) + 1, dw_)
                    dw[k] += dout[i, k, r, s] * xp[i, c0 : c0 + cg, rows, cols]
                    dxp[i, c0 : c0 + cg, rows, cols] += dout[i, k, r, s] * w[k]
    dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    db = dout.sum(axis=(0, 2, 3)) if b is not None else None
    return dx, dw, db


def _pool_args(kernel_size, stride):
    kernel = _pair(kernel_size)
    return kernel, kernel if stride is None else stride


def _pool_forward(x, kernel_size, stride, padding, fill, reduce):
    """``reduce`` over each window, one at a time; the padding is ``fill``."""
    (kh, kw), stride = _pool_args(kernel_size, stride)
    (sh, sw), (ph, pw), _, ho, wo = _geometry(x, (kh, kw), stride, padding, 1)
    xp = _padded(x, ph, pw, value=fill)
    n, c = x.shape[:2]
    out = np.zeros((n, c, ho, wo))
    for i in range(n):
        for j in range(c):
            for r in range(ho):
                for s in range(wo):
                    out[i, j, r, s] = reduce(xp[i, j, r * sh : r * sh + kh, s * sw : s * sw + kw])
    return out, (x, (kh, kw), stride, padding)


def max_pool2d_forward(x, *, kernel_size, stride=None, padding=0):
    return _pool_forward(x, kernel_size, stride, padding, -np.inf, np.max)


def max_pool2d_backward(dout, cache):
    x, (kh, kw), stride, padding = cache
    (sh, sw), (ph, pw), _, ho, wo = _geometry(x, (kh, kw), stride, padding, 1)
    xp = _padded(x, ph, pw, value=-np.inf)
    dxp = np.zeros_like(xp)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            for r in range(ho):
                for s in range(wo):
                    window = xp[i, j, r * sh : r * sh + kh, s * sw : s * sw + kw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)  # the first maximum
                    dxp[i, j, r * sh + a, s * sw + b] += dout[i, j, r, s]
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


def avg_pool2d_forward(x, *, kernel_size, stride=None, padding=0):
    # Padded zeros count in the mean, as in torch's default.
    return _pool_forward(x, kernel_size, stride, padding, 0.0, np.mean)


def avg_pool2d_backward(dout, cache):
    x, (kh, kw), stride, padding = cache
    (sh, sw), (ph, pw), _, ho, wo = _geometry(x, (kh, kw), stride, padding, 1)
    dxp = _padded(np.zeros_like(x), ph, pw)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            for r in range(ho):
                for s in range(wo):
                    dxp[i, j, r * sh : r * sh + kh, s * sw : s * sw + kw] += dout[i, j, r, s] / (kh * kw)
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
