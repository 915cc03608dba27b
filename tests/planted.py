"""Wrong implementations, each a bug students really write, for the harness to catch.

Each function replaces one function of a reference op; :data:`PLANTED` lists them with the check
that must catch the bug and the words its message must contain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference.activations import tanh_backward
from reference.conv import conv2d_backward
from reference.losses import multi_margin_loss_forward, softmax_cross_entropy_forward
from reference.windows import scatter_windows


def sigmoid_backward_missing_factor(dout, cache):
    """Forgets the (1 - sigma) factor of the sigmoid's derivative."""
    out = cache
    return dout * out


def affine_backward_forgets_dout(dout, cache):
    """Differentiates the sum of the outputs: ``dout`` is never used."""
    x, w = cache
    ones = np.ones((x.shape[0], w.shape[1]))
    return (ones @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ ones, ones.sum(axis=0)


def affine_backward_dw_transposed(dout, cache):
    """Returns dw as ``dout.T @ x``: the transpose of the right answer, of shape (M, D)."""
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), dout.T @ x2, dout.sum(axis=0)


def affine_backward_one_element_wrong(dout, cache):
    """Right everywhere but dw[0, 0], which loses half its value."""
    x, w = cache
    dw = x.reshape(x.shape[0], -1).T @ dout
    dw[0, 0] *= 0.5
    return (dout @ w.T).reshape(x.shape), dw, dout.sum(axis=0)


def affine_backward_two_grads(dout, cache):
    """Forgets to return db."""
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout


def softmax_loss_not_averaged_forward(x, y, reduction="mean"):
    """Sums the per-example losses where the mean was asked for; its backward sums too, so the two
    are consistent with each other and only the forward is wrong."""
    loss, cache = softmax_cross_entropy_forward(x, y, reduction="sum" if reduction == "mean" else reduction)
    probs, labels, _ = cache
    return loss, (probs, labels, "sum" if reduction == "mean" else reduction)


def softmax_loss_backward_not_averaged(dout, cache):
    """The forward averages over N, the backward forgets to divide by N."""
    probs, y, _ = cache
    dx = probs.copy()
    dx[np.arange(probs.shape[0]), y] -= 1.0
    dout = np.broadcast_to(dout, (probs.shape[0],))
    return dx * dout[:, None]


def relu_backward_passes_everything(dout, cache):
    """Lets the gradient through where x < 0 as well."""
    return dout.copy()


def relu_backward_nan(dout, cache):
    """Divides by the mask it multiplies by: NaN wherever x < 0."""
    x = cache
    with np.errstate(invalid="ignore", divide="ignore"):
        return dout * (x > 0) / (x > 0)


def relu_backward_one_at_zero(dout, cache):
    """``x >= 0`` for ``x > 0``: takes ReLU'(0) = 1 where PyTorch takes 0. Right everywhere but on the
    kink, which only the at-kink examples reach."""
    x = cache
    return dout * (x >= 0)


def multi_margin_loss_counts_zero_margins(x, y, reduction="mean"):
    """``margins >= 0`` for ``margins > 0``: a margin of exactly 0 counted as violated (the loss is
    the same, its gradient is not)."""
    loss, (_, labels, reduction) = multi_margin_loss_forward(x, y, reduction)
    rows = np.arange(x.shape[0])
    margins = 1.0 - x[rows, labels][:, None] + x
    margins[rows, labels] = -1.0
    return loss, (margins >= 0, labels, reduction)


def relu_backward_returns_none(dout, cache):
    """A stub never filled in."""
    return None


def mse_backward_missing_two(dout, cache):
    """Forgets the factor 2 of d/dp (p - t)^2."""
    diff, reduction = cache
    n = diff.size if reduction == "mean" else 1
    dpred = diff * np.broadcast_to(dout, diff.shape) / n
    return dpred, -dpred


def tanh_forward_in_place(x):
    """Overwrites its input: ``np.tanh(x, out=x)``."""
    out = np.tanh(x, out=x)
    return out, out.copy()


def tanh_backward_squares_dout(dout, cache):
    """Uses dout squared: nonlinear in the upstream gradient, though right for dout = 1."""
    return tanh_backward(dout * np.abs(dout), cache)


def sigmoid_backward_mutates_cache(dout, cache):
    """Scales its cache in place, so that a second backward call is wrong."""
    out = cache
    dx = dout * out * (1.0 - out)
    out *= 0.5
    return dx


def conv2d_backward_ignores_stride(dout, cache):
    """Scatters dx as if the stride were 1."""
    padded_shape, w, cols, has_bias, _, padding, dilation, groups = cache
    return conv2d_backward(dout, (padded_shape, w, cols, has_bias, (1, 1), padding, dilation, groups))


def conv2d_backward_pad_slicing(dout, cache):
    """Cuts the padding off with ``dxp[:, :, pad:-pad, pad:-pad]``, which is empty when pad is 0."""
    padded_shape, padding = cache[0], cache[5]
    dx, dw, db = conv2d_backward(dout, cache)
    ph, pw = padding
    full = np.zeros(padded_shape)
    full[:, :, ph : padded_shape[2] - ph, pw : padded_shape[3] - pw] = dx
    return full[:, :, ph:-ph, pw:-pw], dw, db


def tie_mask_backward(x, dout, kernel_size):
    """The every-tie convention computed from x, for the tie-convention test."""
    from reference.windows import windows

    k = (kernel_size, kernel_size)
    win = windows(x, k, k)
    mask = win == win.max(axis=(4, 5), keepdims=True)
    return scatter_windows(mask * dout[..., None, None], x.shape, k)


def batch_norm_backward_without_mean_terms(dout, cache):
    """Treats the batch mean and variance as constants: dx = gamma * dout / sqrt(var + eps)."""
    return (
        dout * cache.gamma * cache.inv_std,
        (dout * cache.x_hat).sum(axis=cache.axes),
        dout.sum(axis=cache.axes),
    )


def local_response_norm_backward_local_only(dout, cache):
    """Differentiates only the numerator x_c, as if the window's sum were a constant."""
    base, beta = cache[1], cache[4]
    return dout * base**-beta


def softmax_backward_elementwise(dout, cache):
    """Uses s * (1 - s), the derivative of each output by its own input only."""
    s, _ = cache
    return dout * s * (1 - s)


def multi_margin_loss_not_divided_by_classes(x, y, reduction="mean"):
    """cs231n's svm_loss convention: sums the margins without dividing by C."""
    loss, cache = multi_margin_loss_forward(x, y, reduction)
    return loss * x.shape[1], cache


@dataclass(frozen=True)
class Planted:
    op: str
    replaces: dict
    check: str
    message: tuple[str, ...]

    @property
    def id(self) -> str:
        return next(iter(self.replaces.values())).__name__


PLANTED = [
    Planted(
        "sigmoid", {"backward": sigmoid_backward_missing_factor}, "gradients", ("sigmoid dx", "worst element")
    ),
    Planted(
        "sigmoid", {"backward": sigmoid_backward_missing_factor}, "twin", ("sigmoid dx", "torch autograd")
    ),
    Planted("affine", {"backward": affine_backward_forgets_dout}, "gradients", ("affine d", "worst element")),
    Planted("affine", {"backward": affine_backward_forgets_dout}, "linearity", ("affine d", "backward(a*v1")),
    Planted("affine", {"backward": affine_backward_dw_transposed}, "gradients", ("affine dw", "shape")),
    Planted("affine", {"backward": affine_backward_dw_transposed}, "contracts", ("affine dw", "shape")),
    Planted("affine", {"backward": affine_backward_one_element_wrong}, "gradients", ("affine dw", "[0, 0]")),
    Planted(
        "affine", {"backward": affine_backward_two_grads}, "contracts", ("affine backward", "(dx, dw, db)")
    ),
    Planted(
        "softmax_cross_entropy",
        {"forward": softmax_loss_not_averaged_forward},
        "twin",
        ("softmax_cross_entropy forward", "torch"),
    ),
    Planted(
        "softmax_cross_entropy",
        {"backward": softmax_loss_backward_not_averaged},
        "gradients",
        ("softmax_cross_entropy dx", "finite differences"),
    ),
    Planted("relu", {"backward": relu_backward_passes_everything}, "gradients", ("relu dx", "worst element")),
    Planted("relu", {"backward": relu_backward_nan}, "contracts", ("relu dx", "not finite")),
    Planted("relu", {"backward": relu_backward_returns_none}, "contracts", ("relu dx", "returned None")),
    Planted(
        "relu", {"backward": relu_backward_one_at_zero}, "twin_at_kinks", ("relu dx", "moved onto its kinks")
    ),
    Planted(
        "multi_margin_loss",
        {"forward": multi_margin_loss_counts_zero_margins},
        "twin_at_kinks",
        ("multi_margin_loss dx", "torch autograd"),
    ),
    Planted(
        "mse_loss", {"backward": mse_backward_missing_two}, "gradients", ("mse_loss dpred", "worst element")
    ),
    Planted("tanh", {"forward": tanh_forward_in_place}, "contracts", ("tanh forward", "mutated its input x")),
    Planted("tanh", {"backward": tanh_backward_squares_dout}, "linearity", ("tanh dx", "backward(a*v1")),
    Planted("sigmoid", {"backward": sigmoid_backward_mutates_cache}, "linearity", ("sigmoid dx",)),
    Planted("conv2d", {"backward": conv2d_backward_ignores_stride}, "gradients", ("conv2d dx", "stride")),
    Planted("conv2d", {"backward": conv2d_backward_pad_slicing}, "gradients", ("conv2d dx", "shape")),
    Planted(
        "batch_norm",
        {"backward": batch_norm_backward_without_mean_terms},
        "gradients",
        ("batch_norm dx", "training=True"),
    ),
    Planted(
        "local_response_norm",
        {"backward": local_response_norm_backward_local_only},
        "gradients",
        ("local_response_norm dx", "worst element"),
    ),
    Planted("softmax", {"backward": softmax_backward_elementwise}, "twin", ("softmax dx", "torch autograd")),
    Planted(
        "multi_margin_loss",
        {"forward": multi_margin_loss_not_divided_by_classes},
        "twin",
        ("multi_margin_loss forward", "torch"),
    ),
]


def adam_without_bias_correction(
    param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False
):
    """Uses m / (sqrt(v) + eps) straight: the first steps are far too small."""
    b1, b2 = betas
    m = b1 * state["exp_avg"] + (1 - b1) * grad
    v = b2 * state["exp_avg_sq"] + (1 - b2) * grad * grad
    new_state = {**state, "step": state["step"] + 1, "exp_avg": m, "exp_avg_sq": v}
    return param - lr * m / (np.sqrt(v) + eps), new_state


def sgd_momentum_sign_flipped(
    param, grad, state, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False
):
    """Adds the velocity the other way round: v = mu * v + lr * g; w += v."""
    v = momentum * state["momentum_buffer"] + lr * (grad + weight_decay * param)
    return param + v, {"step": state["step"] + 1, "momentum_buffer": v}


def rmsprop_eps_inside_sqrt(
    param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False
):
    """sqrt(v + eps) instead of sqrt(v) + eps: the other convention, not torch's."""
    square_avg = alpha * state["square_avg"] + (1 - alpha) * grad * grad
    new_state = {**state, "step": state["step"] + 1, "square_avg": square_avg}
    return param - lr * grad / np.sqrt(square_avg + eps), new_state


PLANTED_OPTIMIZERS = [
    ("adam", adam_without_bias_correction, "adam param after step 1"),
    ("sgd", sgd_momentum_sign_flipped, "sgd param after step 1"),
    ("rmsprop", rmsprop_eps_inside_sqrt, "rmsprop param after step"),
]
