"""Training end to end: the reference networks trained by the reference optimizers follow the same
networks trained by torch.optim step for step, and learn."""

import numpy as np
import pytest
import torch

from gradproof.core import registry
from gradproof.core.compare import assert_close
from reference.networks import _draw_values, lenet_shapes, mlp_shapes
from reference.training import minibatches, train

OPTIMIZERS = {
    "sgd_momentum": (
        "sgd",
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    ),
    "adam": ("adam", {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}),
}
EPOCHS, BATCH = 30, 16


def blobs(rng, n=64):
    """Two Gaussian blobs (std 0.5) with means 2.1 apart, about 4 standard deviations: separable."""
    y = np.arange(n) % 2
    x = rng.standard_normal((n, 2)) * 0.5 + np.where(y[:, None] == 1, 0.75, -0.75)
    return x, y


def stripes(rng, n=64):
    """8x8 images, bright on the left half for class 0 and on the right half for class 1, plus noise."""
    y = np.arange(n) % 2
    x = rng.standard_normal((n, 1, 8, 8)) * 0.3
    x[y == 0, :, :, :4] += 1.0
    x[y == 1, :, :, 4:] += 1.0
    return x, y


PROBLEMS = {
    "mlp": ("net_mlp", blobs, mlp_shapes, {"n": BATCH, "features": (2,), "hidden": 8, "classes": 2}),
    "lenet": (
        "net_lenet",
        stripes,
        lenet_shapes,
        {"n": BATCH, "c": 1, "height": 8, "width": 8, "c1": 4, "c2": 4, "stride": 1, "classes": 2},
    ),
}
FINAL_LOSS = 0.1
"""Both problems are separable: the mean loss of the last epoch must fall below this."""


def torch_losses(network, params, x, y, batches, optimizer, hparams, network_hparams):
    names = network.differentiable[1:]
    tensors = [torch.tensor(params[name], requires_grad=True) for name in names]
    optim = registry.all_optimizers()[[o.name for o in registry.all_optimizers()].index(optimizer)]
    twin = optim.torch_class()(tensors, **hparams)
    losses = []
    for batch in batches:
        twin.zero_grad()
        loss = network.twin(
            torch.from_numpy(x[batch]), torch.from_numpy(y[batch]), *tensors, **network_hparams
        )
        loss.backward()
        twin.step()
        losses.append(loss.item())
    return losses, {name: t.detach().numpy() for name, t in zip(names, tensors, strict=True)}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("problem", PROBLEMS)
def test_training_matches_torch_step_for_step_and_learns(problem, optimizer):
    name, data, shapes, network_hparams = PROBLEMS[problem]
    optimizer_name, hparams = OPTIMIZERS[optimizer]
    network = registry.get(name)
    rng = np.random.default_rng(0)
    x, y = data(rng)
    params = {k: v for k, v in _draw_values(rng, shapes(**network_hparams), ()).items() if k != "x"}
    batches = minibatches(len(x), BATCH, EPOCHS, seed=1)
    spec = next(o for o in registry.all_optimizers() if o.name == optimizer_name)

    losses, trained = train(
        network, params, x, y, batches, optimizer=spec, hparams=hparams, network_hparams=network_hparams
    )
    expected_losses, expected = torch_losses(
        network, params, x, y, batches, optimizer_name, hparams, network_hparams
    )
    tol = spec.tolerance("oracle")
    assert_close(
        np.array(losses),
        np.array(expected_losses),
        tol=tol,
        quantity=f"{problem} {optimizer} losses",
        got_label="reference",
        expected_label="torch",
    )
    for key in trained:
        assert_close(
            trained[key],
            expected[key],
            tol=tol,
            quantity=f"{problem} {optimizer} final {key}",
            got_label="reference",
            expected_label="torch",
        )
    last_epoch = np.mean(losses[-(len(x) // BATCH) :])
    assert last_epoch < FINAL_LOSS, (
        f"{problem} with {optimizer}: last epoch's loss {last_epoch:.3f} >= {FINAL_LOSS}"
    )
