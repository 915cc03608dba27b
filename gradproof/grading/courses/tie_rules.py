"""Max pooling's gradient where a window's maximum is tied, by each rule students write.

The maximum is not differentiable where two elements of a window tie, so which of them gets the
gradient is a convention, and courses pin different ones:

* ``first``: the first maximum in row-major window order, as ``np.argmax`` picks it, PyTorch, and the
  reference's :func:`reference.pooling.max_pool2d_backward` (cs231n's convention);
* ``every``: every tied maximum gets the whole gradient, as the mask ``x == np.max(x)`` of the
  Coursera notebook's ``create_mask_from_window`` does;
* ``split``: the tied maxima share it equally (cs231n's fast ``max_pool_backward_reshape``);
* ``last``: the last maximum in row-major order (a ``>=`` comparison in a loop).

Arrays are NCHW, without padding; windows are ``kernel`` = (kh, kw) with ``stride`` an int or (sh,
sw). Loops: the examples that meet ties are a few elements large.
"""

from __future__ import annotations

import numpy as np

RULES = ("first", "every", "split", "last")

DESCRIPTIONS = {
    "first": "sends it to the first maximum in row-major order (as np.argmax picks it)",
    "every": "sends all of it to every tied maximum (the mask x == np.max(x))",
    "split": "splits it equally among the tied maxima",
    "last": "sends it to the last maximum in row-major order",
}


def _windows(x, kernel, stride):
    kh, kw = kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    n, c, h, w = x.shape
    for i in range((h - kh) // sh + 1):
        for j in range((w - kw) // sw + 1):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            for b in range(n):
                for ch in range(c):
                    yield (b, ch, i, j), (b, ch, rows, cols)


def max_pool_backward(x, dout, kernel, stride, rule: str):
    """dx of max pooling by ``rule`` (one of :data:`RULES`)."""
    if rule not in RULES:
        raise ValueError(f"unknown tie rule {rule!r}; one of {RULES}")
    dx = np.zeros_like(x, dtype=np.result_type(x, dout))
    for out_at, (b, ch, rows, cols) in _windows(x, kernel, stride):
        window = x[b, ch, rows, cols]
        mask = window == window.max()
        if rule in ("first", "last"):
            flat = np.flatnonzero(mask)
            mask = np.zeros_like(mask)
            mask.flat[flat[0] if rule == "first" else flat[-1]] = True
        share = dout[out_at] / mask.sum() if rule == "split" else dout[out_at]
        dx[b, ch, rows, cols] += mask * share
    return dx


def tied_windows(x, kernel, stride) -> list[tuple[tuple, tuple, float, int]]:
    """(element index of x where the window starts, window shape, its maximum, how many times it
    holds it) per window whose maximum is tied."""
    found = []
    for _, (b, ch, rows, cols) in _windows(x, kernel, stride):
        window = x[b, ch, rows, cols]
        count = int(np.sum(window == window.max()))
        if count > 1:
            found.append(((b, ch, rows.start, cols.start), window.shape, float(window.max()), count))
    return found
