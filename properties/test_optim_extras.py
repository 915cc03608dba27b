"""Gradient clipping, learning-rate schedules and parameter averaging, against PyTorch."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.compare import assert_close, tolerance_for
from reference.optim_extras import (
    clip_grad_norm,
    clip_grad_value,
    cosine_annealing_lr,
    ema_init,
    ema_update,
    exponential_lr,
    step_lr,
)

TOL = tolerance_for("oracle", np.float64)
GRADIENT_LISTS = st.lists(gs.shapes(max_dims=2).flatmap(gs.arrays), min_size=1, max_size=4)


def as_parameters(grads):
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for param, grad in zip(params, grads, strict=True):
        param.grad = torch.tensor(grad)
    return params


@given(
    grads=GRADIENT_LISTS,
    max_norm=gs.floats(min_value=0.01, max_value=10.0),
    norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]),
)
def test_clip_grad_norm_matches_torch(grads, max_norm, norm_type):
    originals = [g.copy() for g in grads]
    clipped, total = clip_grad_norm(grads, max_norm, norm_type)
    assert all(np.array_equal(g, o) for g, o in zip(grads, originals, strict=True)), "clip_grad_norm mutated"
    params = as_parameters(grads)
    torch_total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert_close(
        np.float64(total),
        torch_total.numpy(),
        tol=TOL,
        quantity="clip_grad_norm total norm",
        expected_label="torch",
    )
    for i, (ours, param) in enumerate(zip(clipped, params, strict=True)):
        assert_close(
            ours, param.grad.numpy(), tol=TOL, quantity=f"clip_grad_norm gradient {i}", expected_label="torch"
        )


@given(grads=GRADIENT_LISTS, clip_value=gs.floats(min_value=0.0, max_value=5.0))
def test_clip_grad_value_matches_torch(grads, clip_value):
    params = as_parameters(grads)
    torch.nn.utils.clip_grad_value_(params, clip_value)
    for ours, param in zip(clip_grad_value(grads, clip_value), params, strict=True):
        np.testing.assert_array_equal(ours, param.grad.numpy())


SCHEDULES = {
    "step": (
        step_lr,
        "StepLR",
        st.fixed_dictionaries(
            {"step_size": st.integers(1, 5), "gamma": gs.floats(min_value=0.1, max_value=1.0)}
        ),
    ),
    "exponential": (
        exponential_lr,
        "ExponentialLR",
        st.fixed_dictionaries({"gamma": gs.floats(min_value=0.5, max_value=1.0)}),
    ),
    "cosine": (
        cosine_annealing_lr,
        "CosineAnnealingLR",
        st.fixed_dictionaries(
            {"T_max": st.integers(1, 10), "eta_min": gs.floats(min_value=0.0, max_value=1e-3)}
        ),
    ),
}


@pytest.mark.parametrize("schedule", SCHEDULES)
@given(data=st.data(), base_lr=gs.floats(min_value=1e-3, max_value=1.0))
def test_learning_rate_schedule_matches_torch(schedule, data, base_lr):
    function, torch_name, hparams_strategy = SCHEDULES[schedule]
    hparams = data.draw(hparams_strategy, label="hyperparameters")
    optim = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    scheduler = getattr(torch.optim.lr_scheduler, torch_name)(optim, **hparams)
    for epoch in range(25):  # beyond T_max: the cosine is periodic
        expected = scheduler.get_last_lr()[0]
        assert_close(
            np.float64(function(base_lr, epoch, **hparams)),
            np.float64(expected),
            tol=TOL,
            quantity=f"{schedule} learning rate at epoch {epoch}",
            expected_label="torch",
            context=f"  base_lr={base_lr}, {hparams}",
        )
        optim.step()
        scheduler.step()


@given(
    params=st.lists(gs.arrays((3,)), min_size=1, max_size=10), decay=gs.floats(min_value=0.0, max_value=0.999)
)
def test_ema_matches_torch_averaged_model(params, decay):
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    model = torch.nn.Linear(3, 1, bias=False).double()
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    state = ema_init(params[0])
    for t, param in enumerate(params, start=1):
        with torch.no_grad():
            model.weight.copy_(torch.tensor(param)[None])
        averaged.update_parameters(model)
        state = ema_update(state, param, decay=decay)
        assert_close(
            state["average"],
            averaged.module.weight.detach().numpy()[0],
            tol=TOL,
            quantity=f"EMA after {t} updates",
            expected_label="torch AveragedModel",
        )
