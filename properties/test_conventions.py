"""The course oracles (``gradproof.grading.courses.*_oracle``) against PyTorch: each course's
convention is the reference's op or torch's optimizer under a change of variables, stated here
once and checked.

The graders trust these oracles as the truth of the cs231n, Coursera and bootcamp APIs; their
ops are the torch-checked reference, but the conventions around them (momentum as the fraction
kept, a velocity of the opposite sign, Adam's ``t``, the biased running variance, svm not divided
by the number of classes, "same" padding) are written from the courses' formulas, so they are
checked here.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.compare import assert_close, tolerance_for
from gradproof.grading.courses import bootcamp as bootcamp_api
from gradproof.grading.courses import bootcamp_oracle as bootcamp
from gradproof.grading.courses import cs231n as cs231n_api
from gradproof.grading.courses import cs231n_oracle as cs231n

TOL = tolerance_for("oracle", np.float64, ())


def close(got, expected, quantity):
    assert_close(np.asarray(got), np.asarray(expected), tol=TOL, quantity=quantity)


@st.composite
def trajectories(draw, steps=5):
    shape = draw(gs.shapes(min_dims=1, max_dims=2))
    return draw(gs.arrays(shape)), [draw(gs.arrays(shape)) for _ in range(draw(st.integers(1, steps)))]


def torch_trajectory(make, w, grads):
    param = torch.nn.Parameter(torch.from_numpy(w.copy()))
    optimizer = make([param])
    for g in grads:
        param.grad = torch.from_numpy(g.copy())
        optimizer.step()
        yield param.detach().numpy().copy()


RATES = gs.floats(min_value=1e-4, max_value=1e-1)
BETAS = gs.floats(min_value=0.0, max_value=0.99)


@given(trajectory=trajectories(), lr=RATES, momentum=BETAS)
def test_cs231n_sgd_momentum_is_torch_sgd_with_the_velocity_scaled_by_minus_lr(trajectory, lr, momentum):
    # cs231n: v = mu v - lr g, w += v. torch: b = mu b + g, w -= lr b. So v = -lr b, step by step.
    w, grads = trajectory
    config = {"learning_rate": lr, "momentum": momentum}
    expected = torch_trajectory(lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum), w, grads)
    for step, (g, w_torch) in enumerate(zip(grads, expected, strict=True)):
        w, config = cs231n.sgd_momentum(w, g, config)
        close(w, w_torch, f"sgd_momentum w after step {step + 1}")


@given(trajectory=trajectories(), lr=RATES, decay=gs.floats(min_value=0.5, max_value=0.999))
def test_cs231n_rmsprop_is_torch_rmsprop(trajectory, lr, decay):
    w, grads = trajectory
    config = {"learning_rate": lr, "decay_rate": decay, "epsilon": 1e-8}
    expected = torch_trajectory(lambda p: torch.optim.RMSprop(p, lr=lr, alpha=decay, eps=1e-8), w, grads)
    for step, (g, w_torch) in enumerate(zip(grads, expected, strict=True)):
        w, config = cs231n.rmsprop(w, g, config)
        close(w, w_torch, f"rmsprop w after step {step + 1}")


@given(trajectory=trajectories(), lr=RATES, beta1=BETAS, beta2=gs.floats(min_value=0.5, max_value=0.9999))
def test_adam_of_cs231n_2019_and_of_the_bootcamp_is_torch_adam(trajectory, lr, beta1, beta2):
    w, grads = trajectory
    config = {"learning_rate": lr, "beta1": beta1, "beta2": beta2, "epsilon": 1e-8}
    year = cs231n.convention("cs231n-2019")
    w_boot, v, s = w.copy(), np.zeros_like(w), np.zeros_like(w)
    expected = torch_trajectory(
        lambda p: torch.optim.Adam(p, lr=lr, betas=(beta1, beta2), eps=1e-8), w, grads
    )
    for t, (g, w_torch) in enumerate(zip(grads, expected, strict=True), start=1):
        w, config = cs231n.adam(w, g, config, year=year)
        close(w, w_torch, f"cs231n adam w after step {t}")
        w_boot, v, s = bootcamp.update_variables_Adam(lr, beta1, beta2, 1e-8, w_boot, g, v, s, t)
        close(w_boot, w_torch, f"bootcamp update_variables_Adam var after step {t}")


@given(trajectory=trajectories(), lr=RATES)
def test_cs231n_2017_adam_counts_from_one_before_its_first_step(trajectory, lr):
    # t starts at 1 and is incremented before use: the 2019 rule from a config that holds t = 1.
    w, grads = trajectory
    old, new = {"learning_rate": lr}, {"learning_rate": lr, "t": 1}
    w_old, w_new = w.copy(), w.copy()
    for g in grads:
        w_old, old = cs231n.adam(w_old, g, old, year=cs231n.convention("cs231n-2017"))
        w_new, new = cs231n.adam(w_new, g, new, year=cs231n.convention("cs231n-2019"))
        assert old["t"] == new["t"]
        close(w_old, w_new, "cs231n-2017 adam w")


@given(
    example=st.one_of(
        cs231n_api.batchnorm_examples(spatial=spatial, mode=mode)
        for spatial in (False, True)
        for mode in ("train", "test")
    )
)
def test_cs231n_batchnorm_is_torch_batch_norm_with_momentum_kept_and_biased_running_var(example):
    x, gamma, beta, running_mean, running_var = example.inputs.values()
    h = example.hparams
    param = {"mode": h["mode"], "eps": h["eps"], "momentum": h["momentum"]}
    param["running_mean"], param["running_var"] = running_mean.copy(), running_var.copy()
    forward = cs231n.spatial_batchnorm_forward if x.ndim == 4 else cs231n.batchnorm_forward
    out, _ = forward(x, gamma, beta, param)

    torch_mean, torch_var = torch.from_numpy(running_mean.copy()), torch.from_numpy(running_var.copy())
    training = h["mode"] == "train"
    expected = F.batch_norm(
        torch.from_numpy(x),
        torch_mean,
        torch_var,
        torch.from_numpy(gamma),
        torch.from_numpy(beta),
        training=training,
        momentum=1 - h["momentum"],  # torch's momentum weighs the batch; the course's, the running value
        eps=h["eps"],
    )
    close(out, expected.numpy(), "batchnorm out")
    close(param["running_mean"], torch_mean.numpy(), "running_mean")
    var = torch_var.numpy()
    if training:  # torch keeps the unbiased batch variance, the course the biased one
        axes = (0, 2, 3) if x.ndim == 4 else (0,)
        n = x.size // x.shape[1]
        var = var - (1 - h["momentum"]) * x.var(axis=axes) / (n - 1)
    close(param["running_var"], var, "running_var")


@given(example=cs231n_api.svm_loss_examples())
def test_cs231n_svm_loss_is_torch_multi_margin_loss_times_the_classes(example):
    x, y = example.inputs.values()
    loss, dx = cs231n.svm_loss(x, y)
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    expected = F.multi_margin_loss(x_torch, torch.from_numpy(y)) * x.shape[1]
    expected.backward()
    close(loss, expected.item(), "svm_loss")
    close(dx, x_torch.grad.numpy(), "svm_loss dx")


@given(example=cs231n_api.dropout_examples(), convention=st.sampled_from(["cs231n-2017", "cs231n-2019"]))
def test_cs231n_dropout_scales_the_kept_units_by_the_years_keep_probability(example, convention):
    x = example.inputs["x"]
    year = cs231n.convention(convention)
    mask = np.random.default_rng(example.hparams["seed"]).random(x.shape) < 0.5
    param = {**example.hparams, "mask": mask}
    out, cache = cs231n.oracle(year).dropout_forward(x, param)
    keep = example.hparams["p"] if convention == "cs231n-2019" else 1 - example.hparams["p"]
    scale = mask / keep if example.hparams["mode"] == "train" else np.ones_like(x)
    close(out, x * scale, "dropout out")
    close(cs231n.dropout_backward(np.ones_like(x), cache), scale, "dropout dx")


@given(example=bootcamp_api.conv_examples())
def test_bootcamp_conv_is_torch_conv2d_in_nhwc_with_same_padding_keeping_the_size(example):
    a_prev, w, b = example.inputs.values()
    padding, stride = example.hparams["padding"], example.hparams["stride"]
    out = bootcamp.conv_forward(a_prev, w, b, np.positive, padding, stride)
    pads = (
        [((a_prev.shape[1 + i] - 1) * stride[i] + w.shape[i] - a_prev.shape[1 + i]) // 2 for i in range(2)]
        if padding == "same"
        else [0, 0]
    )
    expected = F.conv2d(
        torch.from_numpy(a_prev).permute(0, 3, 1, 2),
        torch.from_numpy(w).permute(3, 2, 0, 1),
        torch.from_numpy(b.reshape(-1)),
        stride=stride,
        padding=tuple(pads),
    ).permute(0, 2, 3, 1)
    close(out, expected.numpy(), "bootcamp conv_forward")
    if padding == "same":
        assert out.shape[1:3] == a_prev.shape[1:3]


def test_a_same_padding_that_is_not_even_is_refused():
    with pytest.raises(ValueError, match="'same' padding of 1 rows is not even"):
        bootcamp.same_padding(4, 2, 1)
