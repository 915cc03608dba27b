"""The mistakes students of the Coursera "Convolution model - Step by Step" notebook make, as
mutants of :mod:`gradproof.grading.courses.coursera_oracle` (NHWC; the loops of
:mod:`gradproof.grading.courses.mistakes` run NCHW, transposed in and out)."""

from __future__ import annotations

import numpy as np

from gradproof.core.residual import Windows
from gradproof.grading.courses import mistakes
from gradproof.grading.diagnose import Catalogue, Mutant

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


def _zero_pad_every_axis(o, X, pad):
    return np.pad(X, pad)


def _conv_backward(**mistake):
    def backward(o, dZ, cache):
        a_prev, W, _, hparameters = cache
        s, p = hparameters["stride"], hparameters["pad"]
        dx, dw, db = mistakes.conv_backward(
            dZ.transpose(TO_NCHW),
            a_prev.transpose(TO_NCHW),
            W.transpose(3, 2, 0, 1),
            (s, s),
            (p, p),
            **mistake,
        )
        return dx.transpose(TO_NHWC), dw.transpose(2, 3, 1, 0), db.reshape(1, 1, 1, -1)

    return backward


def _conv_forward_keeping_inputs(o, A_prev, W, b, hparameters):
    Z, _ = o.conv_forward(A_prev, W, b, hparameters)
    return Z, (A_prev, W, b, hparameters)


def _pool_backward(**mistake):
    def backward(o, dA, cache, mode="max"):
        a_prev, hparameters = cache[0], cache[1]  # the notebook's cache, (A_prev, hparameters)
        f, s = hparameters["f"], hparameters["stride"]
        x, d = a_prev.transpose(TO_NCHW), dA.transpose(TO_NCHW)
        if mode == "max":
            dx = mistakes.max_pool_backward(d, x, (f, f), (s, s), **mistake.get("max", {}))
        else:
            dx = mistakes.avg_pool_backward(d, x.shape, (f, f), (s, s), **mistake.get("average", {}))
        return dx.transpose(TO_NHWC)

    return backward


def _conv_without_bias(o, A_prev, W, b, hparameters):
    return o.conv_forward(A_prev, W, np.zeros_like(b), hparameters)


ASSIGNED = (
    "the gradient with each window's share assigned (=) where it must be added (+=)",
    "an element that more than one window reads gets the sum of their gradients",
)


def _sizes(unit: str, example) -> dict:
    x = next(iter(example.inputs.values()))
    sizes = {"m": x.shape[0]}
    if "pool" in unit:
        sizes["f * f"] = example.hparams["f"] ** 2
    return sizes


def _windows_of(unit: str, example) -> Windows | None:
    h = example.hparams
    if unit in ("max_pool2d", "avg_pool2d"):
        return Windows((1, 2), (h["f"], h["f"]), (h["stride"],) * 2, (0, 0))
    if unit == "conv2d":
        f = example.inputs["W"].shape[0]
        return Windows((1, 2), (f, f), (h["stride"],) * 2, (h["pad"],) * 2)
    return None


def catalogue() -> Catalogue:
    keep_conv = {"conv_forward": _conv_forward_keeping_inputs}
    mutants = (
        Mutant(
            "zero_pad",
            ("forward",),
            {"zero_pad": _zero_pad_every_axis},
            "np.pad(X, pad): every axis padded, the batch and the channels too",
            "only the height and width are padded: np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))",
        ),
        Mutant(
            "conv2d",
            ("forward",),
            {"conv_forward": _conv_without_bias},
            "the convolution without its bias",
            "every output of channel c adds b[..., c]",
        ),
        Mutant(
            "conv2d",
            ("dA_prev", "dW"),
            {**keep_conv, "conv_backward": _conv_backward(ignore_stride=True)},
            "the gradient with the stride ignored (window (h, w) taken to start at (h, w))",
            "window (h, w) starts at (h * stride, w * stride), in the backward as in the forward",
        ),
        Mutant(
            "conv2d",
            ("dA_prev",),
            {**keep_conv, "conv_backward": _conv_backward(crop="negative")},
            "the padded gradient cropped as dA_prev_pad[pad:-pad, pad:-pad, :]",
            "at pad = 0 that slice is empty (-0 is 0); crop with dA_prev_pad[pad:pad + n_H_prev, ...]",
        ),
        Mutant(
            "max_pool2d",
            ("dA_prev",),
            {"pool_backward": _pool_backward(max={"assign": "window"})},
            *ASSIGNED,
        ),
        Mutant(
            "avg_pool2d",
            ("dA_prev",),
            {"pool_backward": _pool_backward(average={"divide": False})},
            "dA copied to every element of its window, not shared out",
            "distribute_value gives each of the f * f elements dA / (f * f)",
        ),
        Mutant(
            "avg_pool2d",
            ("dA_prev",),
            {"pool_backward": _pool_backward(average={"assign": True})},
            *ASSIGNED,
        ),
    )
    return Catalogue(mutants, _sizes, _windows_of)
