"""Stanford CS231n's assignment API (``layers.py``, ``optim.py``), implemented over the reference.

This is the oracle the ``cs231n`` adapter grades against, so it reproduces the course's
conventions, not PyTorch's: batch norm's ``momentum`` is the fraction of the running statistic
*kept* (``running = momentum * running + (1 - momentum) * batch``) and its running variance is the
biased batch variance; ``sgd_momentum`` keeps a velocity ``v = momentum * v - learning_rate * dw``
and adds it; Adam increments ``t`` before the bias correction; the losses return ``(loss, dx)``
averaged over the batch, and ``svm_loss`` does not divide by the number of classes as
``torch.nn.functional.multi_margin_loss`` does. ``properties/test_conventions.py`` checks each of
these against the reference ops and optimizers (which are checked against PyTorch).

Three conventions changed over the years (:class:`Year`): dropout's ``p`` was the probability of
*dropping* a unit in the 2016-17 assignments and of *keeping* it from 2018 on; Adam's ``t``
started at 1 in 2017 (so the first step's bias correction used ``t = 2``) and at 0 before and
since; group norm's ``gamma`` and ``beta`` were ``(C,)`` until 2020 and ``(1, C, 1, 1)`` from 2021
(this oracle takes either). :func:`oracle` gives the module's functions for one year.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from reference.activations import relu_backward as _relu_backward
from reference.activations import relu_forward as _relu_forward
from reference.conv import conv2d_backward, conv2d_forward
from reference.linear import affine_backward as _affine_backward
from reference.linear import affine_forward as _affine_forward
from reference.losses import (
    multi_margin_loss_backward,
    multi_margin_loss_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from reference.norm import (
    batch_norm_backward,
    batch_norm_forward,
    group_norm_backward,
    group_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
)
from reference.pooling import max_pool2d_backward, max_pool2d_forward

# -- layers.py ---------------------------------------------------------------------------------------


def affine_forward(x, w, b):
    return _affine_forward(x, w, b)


def affine_backward(dout, cache):
    return _affine_backward(dout, cache)


def relu_forward(x):
    return _relu_forward(x)


def relu_backward(dout, cache):
    return _relu_backward(dout, cache)


def _batchnorm(x, gamma, beta, bn_param, axes):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    channels = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(channels, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(channels, dtype=x.dtype))
    if mode == "train":
        out, cache = batch_norm_forward(x, gamma, beta, running_mean, running_var, training=True, eps=eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * x.mean(axis=axes)
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * x.var(axis=axes)
    elif mode == "test":
        out, cache = batch_norm_forward(x, gamma, beta, running_mean, running_var, training=False, eps=eps)
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    return out, cache


def batchnorm_forward(x, gamma, beta, bn_param):
    return _batchnorm(x, gamma, beta, bn_param, axes=0)


def batchnorm_backward(dout, cache):
    return batch_norm_backward(dout, cache)


def batchnorm_backward_alt(dout, cache):
    return batch_norm_backward(dout, cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    return _batchnorm(x, gamma, beta, bn_param, axes=(0, 2, 3))


def spatial_batchnorm_backward(dout, cache):
    return batch_norm_backward(dout, cache)


def layernorm_forward(x, gamma, beta, ln_param):
    return layer_norm_forward(x, gamma, beta, eps=ln_param.get("eps", 1e-5))


def layernorm_backward(dout, cache):
    return layer_norm_backward(dout, cache)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    out, cache = group_norm_forward(
        x, gamma.ravel(), beta.ravel(), num_groups=G, eps=gn_param.get("eps", 1e-5)
    )
    return out, (cache, gamma.shape)


def spatial_groupnorm_backward(dout, cache):
    cache, shape = cache
    dx, dgamma, dbeta = group_norm_backward(dout, cache)
    return dx, dgamma.reshape(shape), dbeta.reshape(shape)


def conv_forward_naive(x, w, b, conv_param):
    return conv2d_forward(x, w, b, stride=conv_param["stride"], padding=conv_param["pad"])


def conv_backward_naive(dout, cache):
    return conv2d_backward(dout, cache)


def max_pool_forward_naive(x, pool_param):
    kernel = (pool_param["pool_height"], pool_param["pool_width"])
    return max_pool2d_forward(x, kernel_size=kernel, stride=pool_param["stride"])


def max_pool_backward_naive(dout, cache):
    return max_pool2d_backward(dout, cache)


def svm_loss(x, y):
    classes = x.shape[1]
    loss, cache = multi_margin_loss_forward(x, y, "mean")
    return float(loss) * classes, multi_margin_loss_backward(np.float64(classes), cache)


def softmax_loss(x, y):
    loss, cache = softmax_cross_entropy_forward(x, y, "mean")
    return float(loss), softmax_cross_entropy_backward(np.float64(1.0), cache)


def dropout_forward(x, dropout_param, *, year=None):
    """Inverted dropout: kept units are scaled by ``1 / keep``, so test mode is the identity.

    The mask is the candidate's own random draw, which no oracle can reproduce: the grader reads
    it from the candidate's output and passes it as ``dropout_param["mask"]`` (an oracle-only key);
    without it the mask is drawn from ``dropout_param["seed"]``.
    """
    year = year or convention(None)
    p, mode = dropout_param["p"], dropout_param["mode"]
    keep = year.keep_probability(p)
    if mode == "test":
        return x, (dropout_param, None)
    if mode != "train":
        raise ValueError(f'Invalid forward dropout mode "{mode}"')
    mask = dropout_param.get("mask")
    if mask is None:
        mask = np.random.default_rng(dropout_param.get("seed")).random(x.shape) < keep
    mask = np.asarray(mask, dtype=bool) / keep
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout if dropout_param["mode"] == "test" else dout * mask


# -- optim.py ----------------------------------------------------------------------------------------


def sgd(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def rmsprop(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    decay = config["decay_rate"]
    config["cache"] = decay * config["cache"] + (1 - decay) * dw**2
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config


def adam(w, dw, config=None, *, year=None):
    year = year or convention(None)
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", year.adam_first_t)
    beta1, beta2 = config["beta1"], config["beta2"]
    config["t"] += 1
    config["m"] = beta1 * config["m"] + (1 - beta1) * dw
    config["v"] = beta2 * config["v"] + (1 - beta2) * dw**2
    m_hat = config["m"] / (1 - beta1 ** config["t"])
    v_hat = config["v"] / (1 - beta2 ** config["t"])
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


# -- the years ---------------------------------------------------------------------------------------

DEFAULT_YEAR = 2019


@dataclass(frozen=True)
class Year:
    """The conventions of one year's assignment (``cs231n-2017``, ``cs231n-2019``, ...)."""

    year: int
    assumed: bool = False
    """True when no ``--convention`` chose it."""

    affects = ("dropout", "adam", "spatial_groupnorm")
    """The units graded differently from one year to another."""

    EXAMPLES = (2016, 2017, 2019, 2021)
    """One year of each set of conventions."""

    @property
    def name(self) -> str:
        return f"cs231n-{self.year}"

    @property
    def dropout_p_keeps(self) -> bool:
        return self.year >= 2018

    @property
    def adam_first_t(self) -> int:
        return 1 if self.year == 2017 else 0

    @property
    def groupnorm_gamma(self) -> str:
        """The shape of group norm's ``gamma`` and ``beta`` in the template's docstring."""
        return "(1, C, 1, 1)" if self.year >= 2021 else "(C,)"

    SINCE: ClassVar[dict[str, int]] = {"layernorm": 2018, "spatial_groupnorm": 2018}
    """Units the template added in a later year."""

    def asks_for(self, unit: str) -> bool:
        """Whether this year's template asks for ``unit``."""
        return self.year >= self.SINCE.get(unit, 0)

    def others(self, unit: str | None = None) -> list[Year]:
        """The years whose rule for ``unit`` (or whose rules, for None) differ from this year's, one
        per rule: the most like this year in its other rules, the likeliest assignment of a
        solution that follows that rule."""
        key = (lambda y: y.rule(unit)) if unit is not None else (lambda y: y.rules)
        differ = [Year(year) for year in self.EXAMPLES if key(Year(year)) != key(self)]
        differ.sort(key=lambda y: sum(a != b for a, b in zip(y.rules, self.rules, strict=True)))
        chosen: dict = {}
        for year in differ:
            chosen.setdefault(key(year), year)
        return list(chosen.values())

    def sharing(self, unit: str) -> str:
        """The years (of :attr:`EXAMPLES`) whose rule for ``unit`` is this year's, this one first."""
        same = [y for y in self.EXAMPLES if y != self.year and Year(y).rule(unit) == self.rule(unit)]
        return ", ".join(Year(y).name for y in [self.year, *same])

    @property
    def rules(self) -> tuple:
        return (self.dropout_p_keeps, self.adam_first_t, self.groupnorm_gamma)

    def keep_probability(self, p: float) -> float:
        return p if self.dropout_p_keeps else 1.0 - p

    def rule(self, unit: str) -> str:
        """This year's rule for ``unit`` (one of :attr:`affects`), in words."""
        if unit == "dropout":
            keeping = "keeping" if self.dropout_p_keeps else "dropping"
            return f"dropout p is the probability of {keeping} a unit"
        if unit == "adam":
            return f"Adam's t starts at {self.adam_first_t}"
        return f"group norm's gamma and beta are {self.groupnorm_gamma}"

    def rules_text(self) -> str:
        return ", ".join(self.rule(unit) for unit in self.affects)

    def describe(self) -> str:
        text = f"convention {self.name}{' (assumed)' if self.assumed else ''}: {self.rules_text()}"
        if self.assumed:
            text += "; for other years' assignments use --convention cs231n-YEAR (2016, 2017, 2021, ...)"
        return text


def convention(name: str | None) -> Year:
    """The year ``name`` (``cs231n-2017``) chooses, or the default, marked as assumed."""
    if name is None:
        return Year(DEFAULT_YEAR, assumed=True)
    match = re.fullmatch(r"cs231n-(\d{4})", name)
    if match is None or not 2015 <= int(match.group(1)) <= 2030:
        raise ValueError(
            f"unknown cs231n convention {name!r}: write cs231n-YEAR, such as cs231n-2017 or cs231n-2019"
        )
    return Year(int(match.group(1)))


def oracle(year: Year) -> types.SimpleNamespace:
    """This module's functions, with those that changed over the years bound to ``year``."""
    functions = {
        name: value for name, value in globals().items() if callable(value) and not name.startswith("_")
    }
    functions["dropout_forward"] = lambda x, dropout_param: dropout_forward(x, dropout_param, year=year)
    functions["adam"] = lambda w, dw, config=None: adam(w, dw, config, year=year)
    return types.SimpleNamespace(**functions)
