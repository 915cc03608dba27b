r"""What surrounds an optimizer step: gradient clipping, learning-rate schedules, and an exponential
moving average of the parameters. Pure functions, following PyTorch."""

from __future__ import annotations

import math

import numpy as np


def clip_grad_norm(grads, max_norm, norm_type=2.0):
    r"""Scale all gradients together so that their global norm is at most ``max_norm``, as
    ``torch.nn.utils.clip_grad_norm_``:

    .. math:: \|g\| = \bigl\| (\|g_1\|_p, \dots, \|g_k\|_p) \bigr\|_p, \qquad
              g_i \leftarrow g_i \cdot \min\Bigl(1, \frac{\text{max\_norm}}{\|g\| + 10^{-6}}\Bigr)

    (the :math:`10^{-6}` is PyTorch's guard against dividing by zero).

    Parameters
    ----------
    grads : sequence of ndarray
    max_norm : float
    norm_type : float
        :math:`p`: 1, 2, ... or ``math.inf`` (the largest absolute value).

    Returns
    -------
    clipped : tuple of ndarray
        New arrays; the inputs are not modified.
    total_norm : float
        The global norm before clipping.
    """
    if norm_type == math.inf:
        total = max((float(np.max(np.abs(g))) if g.size else 0.0) for g in grads)
    else:
        norms = np.array([np.sum(np.abs(g) ** norm_type) ** (1 / norm_type) for g in grads])
        total = float(np.sum(norms**norm_type) ** (1 / norm_type))
    scale = min(1.0, max_norm / (total + 1e-6))
    return tuple(g * scale for g in grads), total


def clip_grad_value(grads, clip_value):
    r"""Clip every gradient element to :math:`[-c, c]`, as ``torch.nn.utils.clip_grad_value_``.

    Returns
    -------
    clipped : tuple of ndarray
    """
    return tuple(np.clip(g, -clip_value, clip_value) for g in grads)


def step_lr(base_lr, epoch, *, step_size, gamma=0.1):
    r"""Step decay, as ``torch.optim.lr_scheduler.StepLR``:
    :math:`\eta_e = \eta_0 \gamma^{\lfloor e / \text{step\_size} \rfloor}`."""
    return base_lr * gamma ** (epoch // step_size)


def exponential_lr(base_lr, epoch, *, gamma):
    r"""Exponential decay, as ``torch.optim.lr_scheduler.ExponentialLR``: :math:`\eta_e = \eta_0 \gamma^e`."""
    return base_lr * gamma**epoch


def cosine_annealing_lr(base_lr, epoch, *, T_max, eta_min=0.0):
    r"""Cosine annealing, as ``torch.optim.lr_scheduler.CosineAnnealingLR`` (whose recursive form
    follows this closed form, period :math:`2 T_{max}` beyond :math:`T_{max}`):

    .. math:: \eta_e = \eta_{min} + \tfrac12 (\eta_0 - \eta_{min}) \bigl(1 + \cos(\pi e / T_{max})\bigr)
    """
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2


def ema_init(param):
    """State of :func:`ema_update`: nothing averaged yet."""
    return {"n_averaged": 0, "average": np.zeros_like(param)}


def ema_update(state, param, *, decay):
    r"""Exponential moving average of a parameter (Polyak averaging with a decay), as
    ``torch.optim.swa_utils.AveragedModel`` with ``multi_avg_fn=get_ema_multi_avg_fn(decay)``:
    the first update copies the parameter, later ones

    .. math:: \bar\theta \leftarrow \text{decay}\; \bar\theta + (1 - \text{decay})\, \theta

    Returns
    -------
    new_state : dict
        ``{"n_averaged": int, "average": ndarray}``; the old state is not modified.
    """
    if state["n_averaged"] == 0:
        average = param.copy()
    else:
        average = state["average"] + (1 - decay) * (param - state["average"])
    return {"n_averaged": state["n_averaged"] + 1, "average": average}
