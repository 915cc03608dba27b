r"""Pooling over the spatial axes of (N, C, H, W) arrays, and flattening."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import kinks
from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op
from reference.windows import pad, pair, scatter_windows, unpad, windows


def _pool_geometry(kernel_size, stride, padding):
    kernel = pair(kernel_size)
    stride = kernel if stride is None else pair(stride)
    padding = pair(padding)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"pooling: padding {padding} must be at most half the kernel {kernel}, as in PyTorch"
        )
    return kernel, stride, padding


def max_pool2d_forward(x, *, kernel_size, stride=None, padding=0):
    r"""Max pooling, as ``torch.nn.functional.max_pool2d``.

    .. math:: \mathrm{out}[n, c, i, j] = \max_{a, b}\; x_p[n, c,\, i s_h + a,\, j s_w + b]

    where :math:`x_p` is ``x`` padded with :math:`-\infty`, so padding never wins.

    Ties: when several elements of a window share the maximum, the *first* in row-major order
    within the window (smallest ``a``, then smallest ``b``) is the one selected, and only it
    receives the gradient; this is PyTorch's CPU convention.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``; smaller strides give overlapping windows.
    padding : int or (int, int)
        At most half the kernel.

    Returns
    -------
    out : ndarray of shape (N, C, Ho, Wo)
        :math:`H_o = \lfloor (H + 2 p_h - KH) / s_h \rfloor + 1`, and likewise :math:`W_o`.
    cache : tuple
        For :func:`max_pool2d_backward`.
    """
    kernel, stride, padding = _pool_geometry(kernel_size, stride, padding)
    xp = pad(x, padding, value=-np.inf)
    win = windows(xp, kernel, stride)
    flat = win.reshape(*win.shape[:4], -1)
    chosen = flat.argmax(axis=-1)[..., None]
    out = np.take_along_axis(flat, chosen, axis=-1)[..., 0]
    return out, (xp.shape, chosen, kernel, stride, padding)


def max_pool2d_backward(dout, cache):
    r"""Gradient of max pooling: each window sends its ``dout`` to the element it selected.

    :math:`dx[n, c, h, w] = \sum \mathrm{dout}[n, c, i, j]` over the windows :math:`(i, j)` that
    selected :math:`(h, w)`: overlapping windows can select the same element.

    Parameters
    ----------
    dout : ndarray of shape (N, C, Ho, Wo)
    cache : tuple from :func:`max_pool2d_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    padded_shape, chosen, kernel, stride, padding = cache
    dwin = np.zeros((*dout.shape, kernel[0] * kernel[1]), dtype=dout.dtype)
    np.put_along_axis(dwin, chosen, dout[..., None], axis=-1)
    return unpad(scatter_windows(dwin.reshape(*dout.shape, *kernel), padded_shape, stride), padding)


def avg_pool2d_forward(x, *, kernel_size, stride=None, padding=0):
    r"""Average pooling, as ``torch.nn.functional.avg_pool2d`` with its default
    ``count_include_pad=True``: zero padding counts in the average.

    .. math:: \mathrm{out}[n, c, i, j] = \frac{1}{KH \cdot KW} \sum_{a, b} x_p[n, c,\, i s_h + a,\, j s_w + b]

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Zeros, at most half the kernel.

    Returns
    -------
    out : ndarray of shape (N, C, Ho, Wo)
        :math:`H_o = \lfloor (H + 2 p_h - KH) / s_h \rfloor + 1`, and likewise :math:`W_o`.
    cache : tuple
        For :func:`avg_pool2d_backward`.
    """
    kernel, stride, padding = _pool_geometry(kernel_size, stride, padding)
    xp = pad(x, padding)
    out = windows(xp, kernel, stride).mean(axis=(4, 5))
    return out, (xp.shape, kernel, stride, padding)


def avg_pool2d_backward(dout, cache):
    r"""Gradient of average pooling: every element of a window gets ``dout / (KH * KW)``.

    Parameters
    ----------
    dout : ndarray of shape (N, C, Ho, Wo)
    cache : tuple from :func:`avg_pool2d_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    padded_shape, kernel, stride, padding = cache
    share = dout / (kernel[0] * kernel[1])
    dwin = np.broadcast_to(share[..., None, None], (*dout.shape, *kernel))
    return unpad(scatter_windows(dwin, padded_shape, stride), padding)


def global_avg_pool_forward(x):
    r"""Global average pooling, :math:`\mathrm{out}[n, c] = \frac{1}{HW} \sum_{h, w} x[n, c, h, w]`.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)

    Returns
    -------
    out : ndarray of shape (N, C)
    cache : tuple
        ``x.shape``, for :func:`global_avg_pool_backward`.
    """
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool_backward(dout, cache):
    r"""Gradient of global average pooling: :math:`dx[n, c, h, w] = \mathrm{dout}[n, c] / (HW)`.

    Parameters
    ----------
    dout : ndarray of shape (N, C)
    cache : tuple from :func:`global_avg_pool_forward`

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    shape = cache
    return np.broadcast_to((dout / (shape[2] * shape[3]))[:, :, None, None], shape).copy()


def flatten_forward(x):
    r"""Flatten all but the batch axis, as ``x.flatten(1)`` in PyTorch.

    Parameters
    ----------
    x : ndarray of shape (N, d1, ..., dk)

    Returns
    -------
    out : ndarray of shape (N, d1 * ... * dk)
    cache : tuple
        ``x.shape``, for :func:`flatten_backward`.
    """
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout, cache):
    r"""Gradient of flatten: ``dout`` reshaped back to x's shape.

    Parameters
    ----------
    dout : ndarray of shape (N, d1 * ... * dk)
    cache : tuple from :func:`flatten_forward`

    Returns
    -------
    dx : ndarray of shape (N, d1, ..., dk)
    """
    return dout.reshape(cache)


@st.composite
def pool_geometry(draw):
    """(kernel, stride, padding, (H, W)) valid by construction: padding at most half the kernel, and
    sides that give at least one output row and column. Stride may differ from the kernel."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    sides = tuple(
        draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + 4))
        for k, p in zip(kernel, padding, strict=True)
    )
    return kernel, stride, padding, sides


def pool_examples(distinct: bool):
    @st.composite
    def examples(draw):
        kernel, stride, padding, sides = draw(pool_geometry())
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sides)
        x = draw(gs.distinct_values(shape) if distinct else gs.arrays(shape))
        return Example(inputs={"x": x}, hparams={"kernel_size": kernel, "stride": stride, "padding": padding})

    return examples()


# A max changes its winner only when two values meet. On a tie PyTorch's CPU kernel, and the
# reference, hand the window's gradient to the first maximum (see max_pool2d_forward).
MAX_TIES = kinks.ties("x", where="a tie for a window's maximum (any two equal values of x, to be safe)")


@op(
    "max_pool2d",
    forward=max_pool2d_forward,
    backward=max_pool2d_backward,
    examples=pool_examples(distinct=True),
    differentiable=("x",),
    kinks=MAX_TIES,
)
def max_pool2d_twin(x, *, kernel_size, stride, padding):
    import torch.nn.functional as F

    return F.max_pool2d(x, kernel_size, stride=stride, padding=padding)


@op(
    "avg_pool2d",
    forward=avg_pool2d_forward,
    backward=avg_pool2d_backward,
    examples=pool_examples(distinct=False),
    differentiable=("x",),
)
def avg_pool2d_twin(x, *, kernel_size, stride, padding):
    import torch.nn.functional as F

    return F.avg_pool2d(x, kernel_size, stride=stride, padding=padding)


def nchw_examples():
    shapes = st.tuples(*(st.integers(1, 4) for _ in range(4)))
    return shapes.flatmap(lambda shape: gs.arrays(shape).map(lambda x: Example(inputs={"x": x})))


@op(
    "global_avg_pool",
    forward=global_avg_pool_forward,
    backward=global_avg_pool_backward,
    examples=nchw_examples(),
    differentiable=("x",),
)
def global_avg_pool_twin(x):
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(x, 1).flatten(1)


@op(
    "flatten",
    forward=flatten_forward,
    backward=flatten_backward,
    examples=gs.shapes(min_dims=1, max_dims=5).flatmap(
        lambda shape: gs.arrays(shape).map(lambda x: Example(inputs={"x": x}))
    ),
    differentiable=("x",),
)
def flatten_twin(x):
    return x.reshape(x.shape[0], -1)
