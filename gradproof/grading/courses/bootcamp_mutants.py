"""The mistakes made in the bootcamp convention (NHWC, explicit arguments, no caches), as mutants of
:mod:`gradproof.grading.courses.bootcamp_oracle`."""

from __future__ import annotations

import numpy as np

from gradproof.core.residual import Windows
from gradproof.grading.courses import mistakes
from gradproof.grading.courses.bootcamp_oracle import same_padding
from gradproof.grading.diagnose import Catalogue, Mutant

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


def _pads(A_prev, W, padding, stride):
    if padding == "valid":
        return (0, 0)
    return tuple(same_padding(A_prev.shape[1 + i], W.shape[i], stride[i]) for i in range(2))


def _conv_backward_ignoring_stride(o, dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    dx, dw, db = mistakes.conv_backward(
        dZ.transpose(TO_NCHW),
        A_prev.transpose(TO_NCHW),
        W.transpose(3, 2, 0, 1),
        tuple(stride),
        _pads(A_prev, W, padding, stride),
        ignore_stride=True,
    )
    return dx.transpose(TO_NHWC), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)


def _conv_without_bias(o, A_prev, W, b, activation, padding="same", stride=(1, 1)):
    return o.conv_forward(A_prev, W, np.zeros_like(b), activation, padding, stride)


def _pool_backward(**mistake):
    def backward(o, dA, A_prev, kernel_shape, stride=(1, 1), mode="max"):
        x, d = A_prev.transpose(TO_NCHW), dA.transpose(TO_NCHW)
        kernel, stride = tuple(kernel_shape), tuple(stride)
        if mode == "max":
            dx = mistakes.max_pool_backward(d, x, kernel, stride, **mistake.get("max", {}))
        else:
            dx = mistakes.avg_pool_backward(d, x.shape, kernel, stride, **mistake.get("avg", {}))
        return dx.transpose(TO_NHWC)

    return backward


def _momentum(mistake: str):
    def update(o, alpha, beta1, var, grad, v):
        if mistake == "up":
            v = beta1 * v + (1 - beta1) * grad
            return var + alpha * v, v
        v = beta1 * v + grad
        return var - alpha * v, v

    return update


def _rmsprop_no_root(o, alpha, beta2, epsilon, var, grad, s):
    s = beta2 * s + (1 - beta2) * grad**2
    return var - alpha * grad / (s + epsilon), s


def _adam_no_correction(o, alpha, beta1, beta2, epsilon, var, grad, v, s, t):
    v = beta1 * v + (1 - beta1) * grad
    s = beta2 * s + (1 - beta2) * grad**2
    return var - alpha * v / (np.sqrt(s) + epsilon), v, s


def _sizes(unit: str, example) -> dict:
    x = next(iter(example.inputs.values()))
    sizes = {"m": x.shape[0]}
    if "pool" in unit:
        kh, kw = example.hparams["kernel_shape"]
        sizes["kh * kw"] = kh * kw
    return sizes


def _windows_of(unit: str, example) -> Windows | None:
    h = example.hparams
    if unit in ("max_pool2d", "avg_pool2d"):
        return Windows((1, 2), tuple(h["kernel_shape"]), tuple(h["stride"]), (0, 0))
    if unit == "conv2d":
        a, w = example.inputs["A_prev"], example.inputs["W"]
        return Windows((1, 2), w.shape[:2], tuple(h["stride"]), _pads(a, w, h["padding"], h["stride"]))
    return None


ASSIGNED = (
    "the gradient with each window's share assigned (=) where it must be added (+=)",
    "an element that more than one window reads gets the sum of their gradients",
)


def catalogue() -> Catalogue:
    mutants = (
        Mutant(
            "conv2d",
            ("forward",),
            {"conv_forward": _conv_without_bias},
            "the convolution without its bias",
            "Z adds b[..., c] to every output of channel c, before the activation",
        ),
        Mutant(
            "conv2d",
            ("dA_prev", "dW"),
            {"conv_backward": _conv_backward_ignoring_stride},
            "the gradient with the stride ignored (window (h, w) taken to start at (h, w))",
            "window (h, w) starts at (h * sh, w * sw), in the backward as in the forward",
        ),
        Mutant(
            "max_pool2d",
            ("dA_prev",),
            {"pool_backward": _pool_backward(max={"assign": "window"})},
            *ASSIGNED,
        ),
        Mutant(
            "max_pool2d",
            ("dA_prev",),
            {"pool_backward": _pool_backward(max={"across_channels": True})},
            "the gradient sent to the maximum of the window over all channels, not each channel's own",
            "max pooling is per channel: each channel's window sends its gradient to its own maximum",
        ),
        Mutant(
            "avg_pool2d",
            ("dA_prev",),
            {"pool_backward": _pool_backward(avg={"divide": False})},
            "dA copied to every element of its window, not shared out",
            "each of the kh * kw elements of a window gets dA / (kh * kw)",
        ),
        Mutant(
            "avg_pool2d", ("dA_prev",), {"pool_backward": _pool_backward(avg={"assign": True})}, *ASSIGNED
        ),
        Mutant(
            "momentum",
            ("next_w",),
            {"update_variables_momentum": _momentum("up")},
            "a step up the gradient (var + alpha * v)",
            "descent subtracts the velocity: var - alpha * v",
        ),
        Mutant(
            "momentum",
            ("next_w",),
            {"update_variables_momentum": _momentum("no_damping")},
            "momentum without the (1 - beta1) factor (v = beta1 * v + grad)",
            "this convention averages: v = beta1 * v + (1 - beta1) * grad",
        ),
        Mutant(
            "RMSProp",
            ("next_w",),
            {"update_variables_RMSProp": _rmsprop_no_root},
            "RMSProp without the square root (grad / (s + epsilon))",
            "RMSProp divides by the root mean square: grad / (sqrt(s) + epsilon)",
        ),
        Mutant(
            "Adam",
            ("next_w",),
            {"update_variables_Adam": _adam_no_correction},
            "Adam without bias correction (v / (sqrt(s) + epsilon))",
            "v and s start at 0 and are biased towards it: divide them by 1 - beta1**t and 1 - beta2**t",
        ),
    )
    return Catalogue(mutants, _sizes, _windows_of)
