"""The mistakes cs231n students make, as mutants of :mod:`gradproof.grading.courses.cs231n_oracle`.

Each :class:`Mutant` replaces one or two of the oracle's functions by the mistaken version, written
over the oracle (its first argument, ``o``: the oracle's functions for the graded year). The
grader names a mistake when a candidate's failing result equals its mutant's on every example of
the diagnosis (:mod:`gradproof.grading.diagnose`).
"""

from __future__ import annotations

import itertools

import numpy as np

from gradproof.core.residual import Windows
from gradproof.grading.courses import cs231n_loss_mutants, cs231n_optim_mutants, mistakes
from gradproof.grading.diagnose import Catalogue, Mutant
from reference.norm import BatchNormCache

# -- affine, relu -------------------------------------------------------------------------------------


def _affine_backward_ones(which):
    def backward(o, dout, cache):
        x, w = cache
        dx, dw, db = o.affine_backward(dout, cache)
        ones = np.ones_like(dout)
        if which == "dw":
            dw = x.reshape(x.shape[0], -1).T @ ones
        else:
            dx = (ones @ w.T).reshape(x.shape)
        return dx, dw, db

    return backward


def _affine_dx_flat(o, dout, cache):
    dx, dw, db = o.affine_backward(dout, cache)
    return dx.reshape(dx.shape[0], -1), dw, db


def _relu_passes_all(o, dout, cache):
    return dout.copy()


def _relu_mask_of_dout(o, dout, cache):
    return dout * (dout > 0)


# -- normalisation ------------------------------------------------------------------------------------


def _bn_dx(without: str):
    """Batch norm's backward without ``"both"`` mean terms (dx = dxhat / std), or without the
    variance's term alone (``"variance"``)."""

    def backward(o, dout, cache):
        _, dgamma, dbeta = o.batchnorm_backward(dout, cache)
        dx_hat = dout * cache.gamma
        if without == "both":
            return dx_hat * cache.inv_std, dgamma, dbeta
        m = np.prod([dout.shape[a] for a in cache.axes])
        if without == "mean":
            projection = (dx_hat * cache.x_hat).sum(axis=cache.axes, keepdims=True)
            return cache.inv_std / m * (m * dx_hat - cache.x_hat * projection), dgamma, dbeta
        total = dx_hat.sum(axis=cache.axes, keepdims=True)
        return cache.inv_std / m * (m * dx_hat - total), dgamma, dbeta

    return backward


def _bn_dgamma_unsummed(o, dout, cache):
    dx, _, dbeta = o.batchnorm_backward(dout, cache)
    return dx, dout * cache.x_hat, dbeta


def _bn_forward(mistake: str, spatial: bool):
    name = "spatial_batchnorm_forward" if spatial else "batchnorm_forward"
    axes = (0, 2, 3) if spatial else 0

    def forward(o, x, gamma, beta, bn_param):
        before = dict(bn_param)
        out, cache = getattr(o, name)(x, gamma, beta, bn_param)
        if bn_param["mode"] != "train":
            if mistake == "test_uses_batch":
                mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
                channel = (1, -1) + (1,) * (x.ndim - 2)
                x_hat = (x - mean) / np.sqrt(var + bn_param.get("eps", 1e-5))
                out = gamma.reshape(channel) * x_hat + beta.reshape(channel)
            return out, cache
        momentum = bn_param.get("momentum", 0.9)
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        if mistake == "momentum_swapped":
            bn_param["running_mean"] = (1 - momentum) * before["running_mean"] + momentum * mean
            bn_param["running_var"] = (1 - momentum) * before["running_var"] + momentum * var
        elif mistake == "unbiased":
            m = x.size // x.shape[1]
            bn_param["running_var"] = momentum * before["running_var"] + (1 - momentum) * var * m / (m - 1)
        elif mistake == "eps_outside":
            channel = (1, -1) + (1,) * (x.ndim - 2)
            x_hat = (x - mean.reshape(channel)) / (np.sqrt(var.reshape(channel)) + bn_param.get("eps", 1e-5))
            out = gamma.reshape(channel) * x_hat + beta.reshape(channel)
            cache = BatchNormCache(x_hat, *cache[1:])
        return out, cache

    return name, forward


def _layernorm_params_over_features(o, dout, cache):
    dx, _, _ = o.layernorm_backward(dout, cache)
    x_hat = cache[0]
    return dx, (dout * x_hat).sum(axis=1), dout.sum(axis=1)


def _layernorm_over_batch(o, x, gamma, beta, ln_param):
    _, cache = o.layernorm_forward(x, gamma, beta, ln_param)
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + ln_param.get("eps", 1e-5))
    return gamma * x_hat + beta, cache


def _groupnorm_summed_per_group(which: str):
    """dgamma or dbeta also summed over the channels of each group, then repeated per channel."""

    def backward(o, dout, cache):
        dx, dgamma, dbeta = o.spatial_groupnorm_backward(dout, cache)
        groups = cache[0][3]  # the reference's cache: (x_hat, inv_std, gamma, num_groups)
        grads = {"dgamma": dgamma, "dbeta": dbeta}
        flat = grads[which].ravel()
        grads[which] = np.repeat(flat.reshape(groups, -1).sum(axis=1), flat.size // groups)
        return dx, grads["dgamma"].reshape(dgamma.shape), grads["dbeta"].reshape(dbeta.shape)

    return backward


def _layernorm_without_means(o, dout, cache):
    _, dgamma, dbeta = o.layernorm_backward(dout, cache)
    _, inv_std, gamma, _ = cache
    return dout * gamma * inv_std, dgamma, dbeta


BN_NO_MEANS = (
    "the correct dx without the two mean terms (dx = dxhat / std)",
    "the gradient also flows through the batch mean and variance, which depend on every x",
)
BN_NO_MEAN = (
    "the correct dx without the mean's term (dx = (dxhat - xhat * mean(dxhat * xhat)) / std)",
    "the batch mean depends on x too: its term -mean(dxhat) / std is missing",
)
BN_NO_VARIANCE = (
    "the correct dx without the variance's term (dx = (dxhat - mean(dxhat)) / std)",
    "the batch variance depends on x too: its term -xhat * mean(dxhat * xhat) / std is missing",
)


def _spatial_flat_forward(o, x, gamma, beta, bn_param):
    n, c, h, w = x.shape
    out, cache = o.batchnorm_forward(x.reshape(-1, c), gamma, beta, bn_param)
    return out.reshape(n, c, h, w), (cache, x.shape)


def _spatial_flat_backward(o, dout, cache):
    cache, shape = cache
    dx, dgamma, dbeta = o.batchnorm_backward(dout.reshape(-1, shape[1]), cache)
    return dx.reshape(shape), dgamma, dbeta


def _normalisation() -> list[Mutant]:
    found = []
    for unit, backward, spatial in (
        ("batchnorm", "batchnorm_backward", False),
        ("batchnorm_alt", "batchnorm_backward_alt", False),
        ("spatial_batchnorm", "spatial_batchnorm_backward", True),
    ):
        found += [
            Mutant(unit, ("dx",), {backward: _bn_dx("both")}, *BN_NO_MEANS),
            Mutant(unit, ("dx",), {backward: _bn_dx("variance")}, *BN_NO_VARIANCE),
            Mutant(unit, ("dx",), {backward: _bn_dx("mean")}, *BN_NO_MEAN),
            Mutant(
                unit,
                ("dgamma",),
                {backward: _bn_dgamma_unsummed},
                "dout * xhat, not summed over the batch",
                "gamma is shared by every example, so its gradient adds up their contributions",
            ),
        ]
        forward_mistakes = (
            (
                "eps_outside",
                ("forward",),
                "the normalisation with eps outside the square root ((x - mean) / (sqrt(var) + eps))",
                "batch norm divides by sqrt(var + eps)",
            ),
            (
                "momentum_swapped",
                ("running_mean", "running_var"),
                "the running average with momentum and 1 - momentum swapped",
                "cs231n keeps momentum of the running statistic: running = momentum * running + "
                "(1 - momentum) * batch",
            ),
            (
                "unbiased",
                ("running_var",),
                "the running average of the unbiased batch variance (divided by m - 1)",
                "cs231n's running variance averages the biased variance (np.var), the one it normalises with",
            ),
            (
                "test_uses_batch",
                ("forward",),
                "the test-mode output normalised with the batch's statistics",
                "test mode normalises with the running mean and variance",
            ),
        )
        for mistake, quantities, says, why in forward_mistakes:
            name, forward = _bn_forward(mistake, spatial)
            found.append(Mutant(unit, quantities, {name: forward}, says, why))
    found.append(
        Mutant(
            "spatial_batchnorm",
            ("forward", "running_mean", "running_var", "dx", "dgamma", "dbeta"),
            {
                "spatial_batchnorm_forward": _spatial_flat_forward,
                "spatial_batchnorm_backward": _spatial_flat_backward,
            },
            "batch norm of x.reshape(N * H * W, C), the channels not moved last first",
            "reshape reads x in its (N, C, H, W) order, so its columns mix channels: normalise "
            "x.transpose(0, 2, 3, 1).reshape(-1, C)",
        )
    )
    for which in ("dgamma", "dbeta"):
        found.append(
            Mutant(
                "spatial_groupnorm",
                (which,),
                {"spatial_groupnorm_backward": _groupnorm_summed_per_group(which)},
                f"{which} summed over the channels of each group as well, repeated per channel",
                "each channel has its own gamma and beta: sum over N, H and W only",
            )
        )
    found.append(
        Mutant(
            "layernorm",
            ("dgamma", "dbeta"),
            {"layernorm_backward": _layernorm_params_over_features},
            "the sum over the features (axis 1), as if per example",
            "gamma and beta are per feature and shared by the examples: sum over the batch, axis 0",
        )
    )
    found.append(
        Mutant(
            "layernorm",
            ("forward",),
            {"layernorm_forward": _layernorm_over_batch},
            "x normalised over the batch (axis 0), as batch norm does",
            "layer norm normalises each example over its features: mean and var over axis 1",
        )
    )
    found.append(
        Mutant(
            "layernorm",
            ("dx",),
            {"layernorm_backward": _layernorm_without_means},
            *BN_NO_MEANS[:1],
            "the gradient also flows through each example's mean and variance",
        )
    )
    return found


# -- conv and pool -------------------------------------------------------------------------------------


def _conv_forward_keeping_inputs(o, x, w, b, conv_param):
    out, _ = o.conv_forward_naive(x, w, b, conv_param)
    return out, (x, w, b, conv_param)


def _conv_backward(**mistake):
    def backward(o, dout, cache):
        x, w, _, conv_param = cache
        s, p = conv_param["stride"], conv_param["pad"]
        return mistakes.conv_backward(dout, x, w, (s, s), (p, p), **mistake)

    return backward


def _conv_without_bias(o, x, w, b, conv_param):
    return o.conv_forward_naive(x, w, np.zeros_like(b), conv_param)


def _affine_without_bias(o, x, w, b):
    return o.affine_forward(x, w, np.zeros_like(b))


def _conv_flipped_forward(o, x, w, b, conv_param):
    return o.conv_forward_naive(x, np.ascontiguousarray(w[:, :, ::-1, ::-1]), b, conv_param)


def _conv_flipped_backward(o, dout, cache):
    dx, dw, db = o.conv_backward_naive(dout, cache)
    return dx, dw[:, :, ::-1, ::-1], db


def _db_over(name: str, axes: tuple[int, ...]):
    def backward(o, dout, cache):
        dx, dw, _ = getattr(o, name)(dout, cache)
        return dx, dw, dout.sum(axis=axes)

    return backward


def _db_mistakes(unit: str, name: str, ndim: int, right: tuple[int, ...], why: str) -> list[Mutant]:
    """``db`` summed over each other set of axes than ``right``: one diagnosis for all of them, since
    on small sizes (axes of length 1) two sets can give the same sums."""
    says = f"dout summed over other axes than {right}"
    found = []
    for count in range(1, ndim + 1):
        for axes in itertools.combinations(range(ndim), count):
            if axes != right:
                found.append(Mutant(unit, ("db",), {name: _db_over(name, axes)}, says, why))
    return found


def _pool_forward_keeping_inputs(o, x, pool_param):
    out, _ = o.max_pool_forward_naive(x, pool_param)
    return out, (x, pool_param)


def _pool_backward(**mistake):
    def backward(o, dout, cache):
        x, param = cache
        kernel, stride = (param["pool_height"], param["pool_width"]), (param["stride"],) * 2
        return mistakes.max_pool_backward(dout, x, kernel, stride, **mistake)

    return backward


ASSIGNED = (
    "the gradient with each window's share assigned (=) where it must be added (+=)",
    "an element that more than one window reads gets the sum of their gradients; with = the last "
    "window overwrites the others",
)


def _windows() -> list[Mutant]:
    keep_conv = {"conv_forward_naive": _conv_forward_keeping_inputs}
    keep_pool = {"max_pool_forward_naive": _pool_forward_keeping_inputs}
    return [
        Mutant(
            "conv2d",
            ("dx", "dw"),
            {**keep_conv, "conv_backward_naive": _conv_backward(ignore_stride=True)},
            "the gradient with the stride ignored (window (i, j) taken to start at (i, j))",
            "window (i, j) starts at (i * stride, j * stride), in the backward as in the forward",
        ),
        Mutant(
            "conv2d",
            ("dx",),
            {**keep_conv, "conv_backward_naive": _conv_backward(crop="negative")},
            "the padded gradient cropped as dx_pad[:, :, pad:-pad, pad:-pad]",
            "at pad = 0 that slice is empty (-0 is 0); crop with dx_pad[:, :, pad:pad + H, pad:pad + W]",
        ),
        Mutant(
            "conv2d",
            ("forward",),
            {"conv_forward_naive": _conv_without_bias},
            "the convolution without its bias",
            "every output of filter f adds b[f]",
        ),
        Mutant(
            "conv2d",
            ("forward", "dx", "dw"),
            {"conv_forward_naive": _conv_flipped_forward, "conv_backward_naive": _conv_flipped_backward},
            "the convolution with the kernel flipped (w[:, :, ::-1, ::-1])",
            "the layer is a cross-correlation: out[n, f, i, j] = sum w[f] * x_pad window (i, j), unflipped",
        ),
        *_db_mistakes(
            "conv2d",
            "conv_backward_naive",
            4,
            (0, 2, 3),
            "db sums dout over the batch and both spatial axes, (0, 2, 3), keeping one value per filter",
        ),
        Mutant(
            "max_pool2d",
            ("dx",),
            {**keep_pool, "max_pool_backward_naive": _pool_backward(assign="window")},
            *ASSIGNED,
        ),
        Mutant(
            "max_pool2d",
            ("dx",),
            {**keep_pool, "max_pool_backward_naive": _pool_backward(assign="max")},
            *ASSIGNED,
        ),
        Mutant(
            "max_pool2d",
            ("dx",),
            {**keep_pool, "max_pool_backward_naive": _pool_backward(across_channels=True)},
            "the gradient sent to the maximum of the window over all channels, not each channel's own",
            "max pooling is per channel: each channel's window sends its gradient to its own maximum",
        ),
    ]


# -- dropout -----------------------------------------------------------------------------------------------


def _dropout_scaled(times_keep: bool):
    """Kept units not divided by the keep probability (``times_keep=False``), or multiplied by it."""

    def forward(o, x, dropout_param):
        out, (param, mask) = o.dropout_forward(x, dropout_param)
        if mask is None:
            return out, (param, mask)
        scale = float(mask.max()) if mask.any() else 1.0  # 1 / keep
        mask = mask / scale / (scale if times_keep else 1.0)
        return x * mask, (param, mask)

    return forward


def _dropout_test_scaled_forward(o, x, dropout_param):
    out, cache = o.dropout_forward(x, dropout_param)
    if dropout_param["mode"] != "test":
        return out, cache
    keep = _keep(o, dropout_param)
    return x * keep, (dropout_param, keep)


def _dropout_test_scaled_backward(o, dout, cache):
    param, mask = cache
    return dout * mask if param["mode"] == "test" else o.dropout_backward(dout, cache)


def _keep(o, dropout_param) -> float:
    """The keep probability of the year graded, read from the oracle's own scaling of a one."""
    probe = dict(dropout_param, mode="train", mask=np.ones(1, dtype=bool))
    return 1.0 / float(o.dropout_forward(np.ones(1), probe)[0][0])


def _dropout_backward_unmasked(o, dout, cache):
    return dout.copy()


def _dropout() -> list[Mutant]:
    return [
        Mutant(
            "dropout",
            ("forward", "dx"),
            {"dropout_forward": _dropout_scaled(times_keep=False)},
            "dropout without the inversion: kept units not divided by the keep probability",
            "inverted dropout scales the kept units by 1 / keep in train mode, so test mode is the identity",
        ),
        Mutant(
            "dropout",
            ("forward", "dx"),
            {"dropout_forward": _dropout_scaled(times_keep=True)},
            "dropout with the kept units multiplied by the keep probability instead of divided by it",
            "inverted dropout scales them by 1 / keep, keeping each unit's expected value",
        ),
        Mutant(
            "dropout",
            ("forward", "dx"),
            {
                "dropout_forward": _dropout_test_scaled_forward,
                "dropout_backward": _dropout_test_scaled_backward,
            },
            "the test-mode output multiplied by the keep probability",
            "with inverted dropout the train-mode scaling already keeps expected values: test mode "
            "is the identity",
        ),
        Mutant(
            "dropout",
            ("dx",),
            {"dropout_backward": _dropout_backward_unmasked},
            "dout passed through unmasked",
            "a dropped unit has no gradient: dx = dout * mask, the forward's own (scaled) mask",
        ),
    ]


def _sizes(unit: str, example) -> dict:
    x = next(iter(example.inputs.values()))
    sizes = {"N": x.shape[0]}
    if unit in ("softmax_loss", "svm_loss"):
        sizes["C"] = x.shape[1]
    if unit == "max_pool2d":
        sizes.update(pool_height=example.hparams["pool_height"], pool_width=example.hparams["pool_width"])
    if unit == "conv2d":
        sizes.update(HH=example.inputs["w"].shape[2], WW=example.inputs["w"].shape[3])
    if unit == "dropout":
        sizes = {"p": example.hparams["p"]}
    return sizes


def _windows_of(unit: str, example) -> Windows | None:
    h = example.hparams
    if unit == "max_pool2d":
        return Windows((2, 3), (h["pool_height"], h["pool_width"]), (h["stride"],) * 2, (0, 0))
    if unit == "conv2d":
        return Windows((2, 3), example.inputs["w"].shape[2:], (h["stride"],) * 2, (h["pad"],) * 2)
    return None


def catalogue() -> Catalogue:
    mutants = (
        Mutant(
            "affine",
            ("dw",),
            {"affine_backward": _affine_backward_ones("dw")},
            "x.T @ ones, without dout",
            "dw = x.T @ dout: each output's weight gradient is scaled by its upstream gradient",
        ),
        Mutant(
            "affine",
            ("dx",),
            {"affine_backward": _affine_backward_ones("dx")},
            "ones @ w.T, without dout",
            "dx = dout @ w.T, reshaped to x's shape",
        ),
        Mutant(
            "affine",
            ("dx",),
            {"affine_backward": _affine_dx_flat},
            "dout @ w.T of shape (N, D), not reshaped to x's shape",
            "dx has the shape of x, (N, d_1, ..., d_k): reshape dout @ w.T back to x.shape",
        ),
        Mutant(
            "affine",
            ("forward",),
            {"affine_forward": _affine_without_bias},
            "x @ w without the bias b",
            "the affine layer is x @ w + b",
        ),
        *_db_mistakes(
            "affine",
            "affine_backward",
            2,
            (0,),
            "b is added to every example: db = dout.sum(axis=0), one value per output",
        ),
        Mutant(
            "relu",
            ("dx",),
            {"relu_backward": _relu_passes_all},
            "dout passed through everywhere",
            "relu's gradient is 0 where x <= 0: dx = dout * (x > 0)",
        ),
        Mutant(
            "relu",
            ("dx",),
            {"relu_backward": _relu_mask_of_dout},
            "dout * (dout > 0): the mask taken from dout",
            "the gradient passes where the forward's input x was positive: dx = dout * (x > 0)",
        ),
        *_normalisation(),
        *_windows(),
        *_dropout(),
        *cs231n_loss_mutants.mutants(),
        *cs231n_optim_mutants.mutants(),
    )
    return Catalogue(mutants, _sizes, _windows_of)
