"""Known mistakes in the native API (the reference's own functions and signatures), as mutants of
the reference: the same mistakes as the courses', in the reference's terms."""

from __future__ import annotations

import numpy as np

from gradproof.core.residual import Windows
from gradproof.grading.diagnose import Catalogue, Mutant
from reference.windows import pair


def _affine_dw_ones(o, dout, cache):
    x, _ = cache
    dx, _, db = o.affine_backward(dout, cache)
    return dx, x.reshape(x.shape[0], -1).T @ np.ones_like(dout), db


def _affine_without_bias(o, x, w, b):
    return o.affine_forward(x, w, np.zeros_like(b))


def _conv_without_bias(o, x, w, b=None, **hparams):
    return o.conv2d_forward(x, w, None if b is None else np.zeros_like(b), **hparams)


def _softmax_ce_no_label(o, dout, cache):
    probs, y, reduction = cache
    label = np.zeros_like(probs)
    label[np.arange(len(y)), y] = 1.0
    # Each example's upstream gradient, after the reduction: the right backward of "probs" 1 + label.
    upstream = o.softmax_cross_entropy_backward(dout, (1.0 + label, y, reduction))
    return probs * upstream


def _batch_norm_no_means(o, dout, cache):
    dx, dgamma, dbeta = o.batch_norm_backward(dout, cache)
    if not cache.training:
        return dx, dgamma, dbeta  # eval mode has no mean terms to forget
    return dout * cache.gamma * cache.inv_std, dgamma, dbeta


def _conv_flipped_forward(o, x, w, b=None, **hparams):
    return o.conv2d_forward(x, np.ascontiguousarray(w[:, :, ::-1, ::-1]), b, **hparams)


def _conv_flipped_backward(o, dout, cache):
    dx, dw, db = o.conv2d_backward(dout, cache)
    return dx, dw[:, :, ::-1, ::-1], db


def _dropout_not_inverted(o, x, *, p, training=True, seed=0):
    out, mask = o.dropout_forward(x, p=p, training=training, seed=seed)
    if mask is None:
        return out, mask
    return out * (1.0 - p), mask * (1.0 - p)


def _max_pool_assigned(o, dout, cache):
    padded_shape, chosen, kernel, stride, padding = cache
    dxp = np.zeros(padded_shape)
    n, c, ho, wo = dout.shape
    for i in range(ho):
        for j in range(wo):
            for a in range(n):
                for b in range(c):
                    r, q = divmod(int(chosen[a, b, i, j, 0]), kernel[1])
                    dxp[a, b, i * stride[0] + r, j * stride[1] + q] = dout[a, b, i, j]  # = for +=
    return dxp[:, :, padding[0] : padded_shape[2] - padding[0], padding[1] : padded_shape[3] - padding[1]]


def _avg_pool_undivided(o, dout, cache):
    _, kernel, _, _ = cache
    return o.avg_pool2d_backward(dout * (kernel[0] * kernel[1]), cache)


def _relu_passes_all(o, dout, cache):
    return dout.copy()


def _sigmoid_missing_factor(o, dout, cache):
    return dout * cache


def _sizes(unit: str, example) -> dict:
    x = next(iter(example.inputs.values()))
    sizes = {"N": x.shape[0]} if np.ndim(x) else {}
    if "p" in example.hparams and unit == "dropout":
        sizes = {"p": example.hparams["p"], "1 - p": 1 - example.hparams["p"]}
    return sizes


def _windows_of(unit: str, example) -> Windows | None:
    h = example.hparams
    if unit in ("max_pool2d", "avg_pool2d"):
        kernel = pair(h["kernel_size"])
        stride = kernel if h.get("stride") is None else pair(h["stride"])
        return Windows((2, 3), kernel, stride, pair(h.get("padding", 0)))
    if unit == "conv2d" and pair(h.get("dilation", 1)) == (1, 1):
        return Windows((2, 3), example.inputs["w"].shape[2:], pair(h["stride"]), pair(h["padding"]))
    return None


def catalogue() -> Catalogue:
    mutants = (
        Mutant(
            "affine",
            ("dw",),
            {"affine_backward": _affine_dw_ones},
            "x.T @ ones, without dout",
            "dw = x.T @ dout: each output's weight gradient is scaled by its upstream gradient",
        ),
        Mutant(
            "affine",
            ("forward",),
            {"affine_forward": _affine_without_bias},
            "x @ w without the bias b",
            "the affine layer is x @ w + b",
        ),
        Mutant(
            "conv2d",
            ("forward",),
            {"conv2d_forward": _conv_without_bias},
            "the convolution without its bias",
            "every output of filter f adds b[f]",
        ),
        Mutant(
            "softmax_cross_entropy",
            ("dx",),
            {"softmax_cross_entropy_backward": _softmax_ce_no_label},
            "softmax(x) without the -1 at the label",
            "d(-log p_y)/dx = p - 1 at the label y",
        ),
        Mutant(
            "batch_norm",
            ("dx",),
            {"batch_norm_backward": _batch_norm_no_means},
            "the correct dx without the two mean terms (dx = dxhat / std)",
            "the gradient also flows through the batch mean and variance, which depend on every x",
        ),
        Mutant(
            "conv2d",
            ("forward", "dx", "dw"),
            {"conv2d_forward": _conv_flipped_forward, "conv2d_backward": _conv_flipped_backward},
            "the convolution with the kernel flipped (w[:, :, ::-1, ::-1])",
            "conv2d is a cross-correlation, as in PyTorch: the kernel is not flipped",
        ),
        Mutant(
            "dropout",
            ("forward", "dx"),
            {"dropout_forward": _dropout_not_inverted},
            "dropout without the inversion: kept units not divided by 1 - p",
            "inverted dropout scales the kept units by 1 / (1 - p), so eval mode is the identity",
        ),
        Mutant(
            "max_pool2d",
            ("dx",),
            {"max_pool2d_backward": _max_pool_assigned},
            "the gradient with each window's share assigned (=) where it must be added (+=)",
            "an element that more than one window selects gets the sum of their gradients",
        ),
        Mutant(
            "avg_pool2d",
            ("dx",),
            {"avg_pool2d_backward": _avg_pool_undivided},
            "dout copied to every element of its window, not shared out",
            "each of the KH * KW elements of a window gets dout / (KH * KW)",
        ),
        Mutant(
            "relu",
            ("dx",),
            {"relu_backward": _relu_passes_all},
            "dout passed through everywhere",
            "relu's gradient is 0 where x <= 0: dx = dout * (x > 0)",
        ),
        Mutant(
            "sigmoid",
            ("dx",),
            {"sigmoid_backward": _sigmoid_missing_factor},
            "dout * sigmoid(x), without the factor 1 - sigmoid(x)",
            "sigmoid'(x) = sigmoid(x) * (1 - sigmoid(x))",
        ),
    )
    return Catalogue(mutants, _sizes, _windows_of)
