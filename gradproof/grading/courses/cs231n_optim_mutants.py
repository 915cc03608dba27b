"""The mistakes cs231n students make in ``optim.py``, as mutants of
:mod:`gradproof.grading.courses.cs231n_oracle`'s update rules (see
:mod:`gradproof.grading.courses.cs231n_mutants`)."""

from __future__ import annotations

import numpy as np

from gradproof.grading.diagnose import Mutant

# -- optim.py ------------------------------------------------------------------------------------------


def _sgd_up(o, w, dw, config=None):
    next_w, config = o.sgd(w, dw, config)
    return 2 * w - next_w, config


def _momentum_up(o, w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def _momentum_minus_velocity(o, w, dw, config=None):
    _, config = o.sgd_momentum(w, dw, config)
    return w - config["velocity"], config


def _rmsprop_eps_inside(o, w, dw, config=None):
    _, config = o.rmsprop(w, dw, config)
    return w - config["learning_rate"] * dw / np.sqrt(config["cache"] + config["epsilon"]), config


def _adam_corrected_stored(o, w, dw, config=None):
    next_w, config = o.adam(w, dw, config)
    config["m"] = config["m"] / (1 - config["beta1"] ** config["t"])
    config["v"] = config["v"] / (1 - config["beta2"] ** config["t"])
    return next_w, config


def _rmsprop_no_root(o, w, dw, config=None):
    _, config = o.rmsprop(w, dw, config)
    return w - config["learning_rate"] * dw / (config["cache"] + config["epsilon"]), config


def _adam(mistake: str):
    def adam(o, w, dw, config=None):
        config = {} if config is None else dict(config)
        _, config = o.adam(w, dw, config)
        m, v, t = config["m"], config["v"], config["t"]
        beta1, beta2, lr, eps = config["beta1"], config["beta2"], config["learning_rate"], config["epsilon"]
        if mistake == "no_correction":
            return w - lr * m / (np.sqrt(v) + eps), config
        t_used = t - 1  # the value of t before this step's increment
        with np.errstate(divide="ignore", invalid="ignore"):
            m_hat, v_hat = m / (1 - beta1**t_used), v / (1 - beta2**t_used)
            return w - lr * m_hat / (np.sqrt(v_hat) + eps), config

    return adam


def mutants() -> list[Mutant]:
    return [
        Mutant(
            "sgd",
            ("next_w",),
            {"sgd": _sgd_up},
            "a step up the gradient (w + learning_rate * dw)",
            "gradient descent subtracts: w - learning_rate * dw",
        ),
        Mutant(
            "sgd_momentum",
            ("next_w",),
            {"sgd_momentum": _momentum_up},
            "momentum with the gradient's sign flipped (v = momentum * v + learning_rate * dw)",
            "the velocity accumulates descent steps: v = momentum * v - learning_rate * dw, then w + v",
        ),
        Mutant(
            "sgd_momentum",
            ("next_w",),
            {"sgd_momentum": _momentum_minus_velocity},
            "w - v with the velocity v = momentum * v - learning_rate * dw",
            "the velocity already points down the gradient: the step is w + v",
        ),
        Mutant(
            "rmsprop",
            ("next_w",),
            {"rmsprop": _rmsprop_eps_inside},
            "RMSProp with epsilon inside the square root (dw / sqrt(cache + epsilon))",
            "cs231n adds epsilon to the root: dw / (sqrt(cache) + epsilon)",
        ),
        Mutant(
            "adam",
            ("next_w",),
            {"adam": _adam_corrected_stored},
            "Adam with the bias-corrected m / (1 - beta1**t) and v / (1 - beta2**t) stored as the moments",
            "the config keeps the raw moments; only the step uses their corrected values",
        ),
        Mutant(
            "rmsprop",
            ("next_w",),
            {"rmsprop": _rmsprop_no_root},
            "RMSProp without the square root (dw / (cache + epsilon))",
            "RMSProp divides by the root mean square: dw / (sqrt(cache) + epsilon)",
        ),
        Mutant(
            "adam",
            ("next_w",),
            {"adam": _adam("no_correction")},
            "Adam without bias correction (m / (sqrt(v) + epsilon))",
            "m and v start at 0 and are biased towards it: divide them by 1 - beta1**t and 1 - beta2**t",
        ),
        Mutant(
            "adam",
            ("next_w",),
            {"adam": _adam("after")},
            "Adam with t incremented after its bias correction, not before",
            "the first step is t = 1: increment t first, then correct m and v with it",
        ),
    ]
