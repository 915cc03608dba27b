"""Loops as students write them, NCHW, with the classic mistakes as switches: the courses' catalogues
of known mistakes (``<course>_mutants.py``) build their mutants over these where the reference's
vectorised code has no place for the mistake (a window taken at the wrong start, a gradient
assigned where it must be added).

Each function is the right computation when every switch is off (``tests/test_diagnose.py`` checks
it against the reference), so a mutant differs from its oracle by the one mistake it names.
"""

from __future__ import annotations

import numpy as np


def conv_backward(
    dout, x, w, stride: tuple[int, int], pad: tuple[int, int], *, ignore_stride=False, crop="right"
):
    """``(dx, dw, db)`` of the cross-correlation ``out = conv(x, w, stride, pad) + b``, by loops.

    ``ignore_stride``: window ``(i, j)`` is read at ``(i, j)``, not ``(i * sh, j * sw)``.
    ``crop="negative"``: the padding is cut off as ``dxp[:, :, ph:-ph, pw:-pw]``, empty at pad 0.
    """
    (sh, sw), (ph, pw) = (1, 1) if ignore_stride else stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    kh, kw = w.shape[2:]
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
            window = xp[:, :, rows, cols]
            if window.shape[2:] != (kh, kw):  # read past the edge: the mistake's own out of range
                raise IndexError("window past the edge")
            dw += np.tensordot(dout[:, :, i, j], window, axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    if crop == "negative":
        dx = dxp[:, :, ph:-ph, pw:-pw]
    else:
        dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def max_pool_backward(
    dout, x, kernel: tuple[int, int], stride: tuple[int, int], *, assign=None, across_channels=False
):
    """``dx`` of max pooling (no padding; the first maximum of a window takes its gradient).

    ``assign="window"``: each window's gradient is assigned to its whole window
    (``dx[window] = mask * dout``), erasing what overlapping windows put there; ``assign="max"``:
    assigned to its maximum (``dx[argmax] = dout``) instead of added. ``across_channels``: the mask
    is ``window == max`` of the window over every channel, so that only the channel holding that
    maximum gets a gradient.
    """
    (kh, kw), (sh, sw) = kernel, stride
    dx = np.zeros_like(x, dtype=np.float64)
    n, c, ho, wo = dout.shape
    for a in range(n):
        for b in range(c):
            for i in range(ho):
                for j in range(wo):
                    window = x[a, b, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    r, q = divmod(int(np.argmax(window)), kw)
                    g = dout[a, b, i, j]
                    if (
                        across_channels
                        and window[r, q] != x[a, :, i * sh : i * sh + kh, j * sw : j * sw + kw].max()
                    ):
                        continue
                    if assign == "window":
                        mask = np.zeros((kh, kw))
                        mask[r, q] = 1.0
                        dx[a, b, i * sh : i * sh + kh, j * sw : j * sw + kw] = mask * g
                    elif assign == "max":
                        dx[a, b, i * sh + r, j * sw + q] = g
                    else:
                        dx[a, b, i * sh + r, j * sw + q] += g
    return dx


def avg_pool_backward(
    dout, shape, kernel: tuple[int, int], stride: tuple[int, int], *, divide=True, assign=False
):
    """``dx`` of average pooling (no padding): each window's ``dout / (kh * kw)`` on its elements.

    ``divide=False``: ``dout`` itself, not shared out; ``assign``: written with ``=``, not added.
    """
    (kh, kw), (sh, sw) = kernel, stride
    dx = np.zeros(shape)
    share = dout / (kh * kw) if divide else dout
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            value = share[:, :, i, j][:, :, None, None] * np.ones((kh, kw))
            if assign:
                dx[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] = value
            else:
                dx[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += value
    return dx
