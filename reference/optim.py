r"""Optimizers as pure functions: ``new_param, new_state = <opt>_step(param, grad, state, **hparams)``,
with ``state = <opt>_init(param)``. Nothing is updated in place, and nothing returned shares memory
with an argument (entries a step leaves unchanged are copied).

Each follows ``torch.optim`` step for step, and names its state entries as ``torch.optim`` does, so
that a trajectory can be compared with PyTorch's entry by entry. Where the literature has two
conventions, the docstring says how the other one maps onto this one.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import optimizer


def _require(name: str, value, condition: bool, rule: str, optimizer_name: str) -> None:
    if not condition:
        raise ValueError(f"{optimizer_name}: {name} must be {rule}, got {value!r}")


def _common(name, lr, weight_decay, eps=None):
    _require("lr", lr, lr >= 0, ">= 0", name)
    _require("weight_decay", weight_decay, weight_decay >= 0, ">= 0", name)
    if eps is not None:
        _require("eps", eps, eps > 0, "> 0", name)


def sgd_init(param):
    """State of :func:`sgd_step`: the step count and a momentum buffer."""
    return {"step": 0, "momentum_buffer": np.zeros_like(param)}


def sgd_step(param, grad, state, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    r"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight
    decay, as ``torch.optim.SGD``:

    .. math::
        g = \nabla + \lambda \theta, \qquad
        b \leftarrow \mu b + (1 - \tau) g \;\; (b = g \text{ at the first step}), \qquad
        \theta \leftarrow \theta - \eta \, (g + \mu b \text{ if Nesterov, else } b)

    The other convention, :math:`v \leftarrow \mu v - \eta g,\ \theta \leftarrow \theta + v` (cs231n's
    ``sgd_momentum``), is this one with :math:`v = -\eta b` for a constant learning rate and
    :math:`\tau = 0`, except that it starts from :math:`v = -\eta g` as well.

    Parameters
    ----------
    param, grad : ndarray of the same shape
    state : dict from :func:`sgd_init` or a previous step
    lr : float
        :math:`\eta \ge 0`.
    momentum : float
        :math:`\mu \ge 0`.
    dampening : float
        :math:`\tau`; must be 0 with Nesterov momentum.
    weight_decay : float
        :math:`\lambda \ge 0`, added to the gradient (L2 regularisation).
    nesterov : bool
        Needs ``momentum > 0``.

    Returns
    -------
    new_param : ndarray
    new_state : dict
    """
    _common("sgd", lr, weight_decay)
    _require("momentum", momentum, momentum >= 0, ">= 0", "sgd")
    if nesterov:
        _require(
            "nesterov",
            nesterov,
            momentum > 0 and dampening == 0,
            "used with momentum > 0 and dampening 0",
            "sgd",
        )
    g = grad + weight_decay * param
    buffer = state["momentum_buffer"].copy()
    if momentum != 0:
        buffer = g.copy() if state["step"] == 0 else momentum * buffer + (1 - dampening) * g
        g = g + momentum * buffer if nesterov else buffer
    return param - lr * g, {"step": state["step"] + 1, "momentum_buffer": buffer}


def adagrad_init(param, initial_accumulator_value=0.0):
    """State of :func:`adagrad_step`: the step count and the running sum of squared gradients."""
    return {"step": 0, "sum": np.full_like(param, initial_accumulator_value)}


def adagrad_step(
    param, grad, state, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10, initial_accumulator_value=0.0
):
    r"""AdaGrad, as ``torch.optim.Adagrad``:

    .. math::
        g = \nabla + \lambda \theta, \qquad s \leftarrow s + g^2, \qquad
        \theta \leftarrow \theta - \frac{\eta}{1 + (t - 1)\, \delta} \frac{g}{\sqrt{s} + \epsilon}

    with :math:`\delta` = ``lr_decay`` and :math:`t` the step, from 1. ``eps`` is added *outside*
    the square root; :math:`\sqrt{s + \epsilon'}` is the other convention.

    Parameters
    ----------
    param, grad : ndarray of the same shape
    state : dict from :func:`adagrad_init` or a previous step
    lr, lr_decay, weight_decay : float
        All >= 0.
    eps : float
        > 0.
    initial_accumulator_value : float
        Used by :func:`adagrad_init`; accepted here so that one set of hyperparameters serves both.

    Returns
    -------
    new_param : ndarray
    new_state : dict
    """
    _common("adagrad", lr, weight_decay, eps)
    _require("lr_decay", lr_decay, lr_decay >= 0, ">= 0", "adagrad")
    step = state["step"] + 1
    g = grad + weight_decay * param
    total = state["sum"] + g * g
    clr = lr / (1 + (step - 1) * lr_decay)
    return param - clr * g / (np.sqrt(total) + eps), {"step": step, "sum": total}


def rmsprop_init(param):
    """State of :func:`rmsprop_step`."""
    zeros = np.zeros_like(param)
    return {"step": 0, "square_avg": zeros, "momentum_buffer": zeros, "grad_avg": zeros}


def rmsprop_step(
    param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False
):
    r"""RMSProp, plain or centred, with or without momentum, as ``torch.optim.RMSprop``:

    .. math::
        g = \nabla + \lambda \theta, \qquad v \leftarrow \alpha v + (1 - \alpha) g^2, \qquad
        d = \sqrt{v - \bar{g}^2} + \epsilon
        \text{ (centred, } \bar{g} \leftarrow \alpha \bar{g} + (1 - \alpha) g \text{)},
        \text{ else } \sqrt{v} + \epsilon

    then :math:`b \leftarrow \mu b + g / d,\ \theta \leftarrow \theta - \eta b` with momentum, else
    :math:`\theta \leftarrow \theta - \eta g / d`. cs231n's ``decay_rate`` is :math:`\alpha` and its
    ``epsilon`` the same :math:`\epsilon`, outside the root.

    Parameters
    ----------
    param, grad : ndarray of the same shape
    state : dict from :func:`rmsprop_init` or a previous step
    lr, weight_decay, momentum : float
        All >= 0.
    alpha : float
        In [0, 1].
    eps : float
        > 0.
    centered : bool

    Returns
    -------
    new_param : ndarray
    new_state : dict
    """
    _common("rmsprop", lr, weight_decay, eps)
    _require("alpha", alpha, 0 <= alpha <= 1, "in [0, 1]", "rmsprop")
    _require("momentum", momentum, momentum >= 0, ">= 0", "rmsprop")
    g = grad + weight_decay * param
    square_avg = alpha * state["square_avg"] + (1 - alpha) * g * g
    grad_avg = alpha * state["grad_avg"] + (1 - alpha) * g if centered else state["grad_avg"].copy()
    denom = np.sqrt(square_avg - grad_avg**2 if centered else square_avg) + eps
    buffer = state["momentum_buffer"].copy()
    if momentum > 0:
        buffer = momentum * buffer + g / denom
        new_param = param - lr * buffer
    else:
        new_param = param - lr * g / denom
    new_state = {
        "step": state["step"] + 1,
        "square_avg": square_avg,
        "momentum_buffer": buffer,
        "grad_avg": grad_avg,
    }
    return new_param, new_state


def adam_init(param):
    """State of :func:`adam_step` and :func:`adamw_step`."""
    zeros = np.zeros_like(param)
    return {"step": 0, "exp_avg": zeros, "exp_avg_sq": zeros, "max_exp_avg_sq": zeros}


def _adam_update(param, g, state, lr, betas, eps, amsgrad, name):
    _require("betas", betas, all(0 <= b < 1 for b in betas), "in [0, 1)", name)
    step = state["step"] + 1
    beta1, beta2 = betas
    exp_avg = beta1 * state["exp_avg"] + (1 - beta1) * g
    exp_avg_sq = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
    max_exp_avg_sq = (
        np.maximum(state["max_exp_avg_sq"], exp_avg_sq) if amsgrad else state["max_exp_avg_sq"].copy()
    )
    second = max_exp_avg_sq if amsgrad else exp_avg_sq
    denom = np.sqrt(second) / np.sqrt(1 - beta2**step) + eps
    new_param = param - lr / (1 - beta1**step) * exp_avg / denom
    return new_param, {
        "step": step,
        "exp_avg": exp_avg,
        "exp_avg_sq": exp_avg_sq,
        "max_exp_avg_sq": max_exp_avg_sq,
    }


def adam_step(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    r"""Adam, with AMSGrad as an option, as ``torch.optim.Adam``:

    .. math::
        g = \nabla + \lambda \theta, \quad m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad
        \theta \leftarrow \theta
            - \frac{\eta}{1 - \beta_1^t} \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}

    with :math:`t` the step from 1, and :math:`v` replaced by its running maximum with AMSGrad.
    :math:`\epsilon` is added after the bias correction of :math:`\sqrt{v}`; the paper's form
    :math:`\hat{m} / (\sqrt{\hat{v}} + \epsilon)` is the same update. cs231n's ``t`` is this
    :math:`t`, incremented before the bias correction.

    Parameters
    ----------
    param, grad : ndarray of the same shape
    state : dict from :func:`adam_init` or a previous step
    lr, weight_decay : float
        >= 0. The weight decay is L2, added to the gradient (see :func:`adamw_step` for decoupled).
    betas : (float, float)
        Each in [0, 1).
    eps : float
        > 0.
    amsgrad : bool

    Returns
    -------
    new_param : ndarray
    new_state : dict
    """
    _common("adam", lr, weight_decay, eps)
    return _adam_update(param, grad + weight_decay * param, state, lr, betas, eps, amsgrad, "adam")


def adamw_step(
    param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False
):
    r"""AdamW, as ``torch.optim.AdamW``: Adam on the raw gradient, after a *decoupled* weight decay
    :math:`\theta \leftarrow \theta (1 - \eta \lambda)`.

    Parameters and returns as :func:`adam_step`.
    """
    _common("adamw", lr, weight_decay, eps)
    return _adam_update(param * (1 - lr * weight_decay), grad, state, lr, betas, eps, amsgrad, "adamw")


def unit(low=0.0, high=1.0):
    return gs.floats(min_value=low, max_value=high)


LEARNING_RATES = st.one_of(st.just(0.0), unit(1e-4, 1.0))
DECAYS = st.one_of(st.just(0.0), unit(0.0, 0.1))
BETAS = st.one_of(st.just(0.0), unit(0.0, 0.999999))  # edge values: 0 and just below 1


@st.composite
def sgd_hparams(draw):
    momentum = draw(st.one_of(st.just(0.0), unit(0.0, 0.99)))
    nesterov = momentum > 0 and draw(st.booleans())
    return {
        "lr": draw(LEARNING_RATES),
        "momentum": momentum,
        "dampening": 0.0 if nesterov else draw(st.one_of(st.just(0.0), unit())),
        "weight_decay": draw(DECAYS),
        "nesterov": nesterov,
    }


ADAGRAD_HPARAMS = st.fixed_dictionaries(
    {
        "lr": LEARNING_RATES,
        "lr_decay": DECAYS,
        "weight_decay": DECAYS,
        "eps": st.sampled_from([1e-10, 1e-6]),
        "initial_accumulator_value": st.one_of(st.just(0.0), unit(0.0, 1.0)),
    }
)


@st.composite
def rmsprop_hparams(draw):
    centered = draw(st.booleans())
    return {
        "lr": draw(LEARNING_RATES),
        # Centered, alpha 0 makes the variance estimate exactly 0 (and alpha near 0 or 1 nearly so)
        # as a difference of equal numbers: its value is then rounding, which no two implementations
        # share. [0.1, 0.99] keeps eight significant digits in it over twenty steps.
        "alpha": draw(unit(0.1, 0.99) if centered else unit()),
        "eps": draw(st.sampled_from([1e-8, 1e-6])),
        "weight_decay": draw(DECAYS),
        "momentum": draw(st.one_of(st.just(0.0), unit(0.0, 0.99))),
        "centered": centered,
    }


def adam_hparams(weight_decay):
    return st.fixed_dictionaries(
        {
            "lr": LEARNING_RATES,
            "betas": st.tuples(BETAS, BETAS),
            "eps": st.sampled_from([1e-8, 1e-6]),
            "weight_decay": weight_decay,
            "amsgrad": st.booleans(),
        }
    )


COMMON_INVALID = ({"lr": -0.1}, {"weight_decay": -1.0})

optimizer(
    "sgd",
    init=sgd_init,
    twin="torch.optim.SGD",
    hparams=sgd_hparams(),
    invalid=(*COMMON_INVALID, {"momentum": -0.5}, {"nesterov": True, "momentum": 0.0}),
)(sgd_step)
optimizer(
    "adagrad",
    init=adagrad_init,
    twin="torch.optim.Adagrad",
    hparams=ADAGRAD_HPARAMS,
    init_hparams=("initial_accumulator_value",),
    invalid=(*COMMON_INVALID, {"eps": 0.0}, {"lr_decay": -1.0}),
)(adagrad_step)
optimizer(
    "rmsprop",
    init=rmsprop_init,
    twin="torch.optim.RMSprop",
    hparams=rmsprop_hparams(),
    invalid=(*COMMON_INVALID, {"eps": 0.0}, {"alpha": 1.5}, {"momentum": -0.1}),
)(rmsprop_step)
optimizer(
    "adam",
    init=adam_init,
    twin="torch.optim.Adam",
    hparams=adam_hparams(DECAYS),
    invalid=(*COMMON_INVALID, {"eps": 0.0}, {"betas": (1.0, 0.999)}, {"betas": (0.9, -0.1)}),
)(adam_step)
optimizer(
    "adamw",
    init=adam_init,
    twin="torch.optim.AdamW",
    hparams=adam_hparams(DECAYS),
    invalid=(*COMMON_INVALID, {"eps": -1e-8}, {"betas": (0.9, 1.0)}),
)(adamw_step)
