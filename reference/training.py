r"""A training loop over the reference ops and optimizers: mini-batches, forward, loss, backward,
step. Everything is pure and seeded, so a run can be repeated exactly and compared step for step
with the same model trained by PyTorch."""

from __future__ import annotations

import numpy as np

from gradproof.core.registry import OpSpec, OptimizerSpec


def minibatches(n: int, batch_size: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The index arrays of every mini-batch of a run: each epoch a fresh permutation of ``range(n)``
    from ``np.random.default_rng(seed)``, cut into batches of ``batch_size`` (the last may be
    smaller)."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(n)
        batches.extend(order[start : start + batch_size] for start in range(0, n, batch_size))
    return batches


def train(
    network: OpSpec,
    params: dict,
    x,
    y,
    batches,
    *,
    optimizer: OptimizerSpec,
    hparams: dict,
    network_hparams: dict,
):
    r"""Train ``network`` (a registered network op whose inputs are ``x, y, *params``, closed by a
    loss) on ``(x, y)``, one optimizer step per batch of ``batches``.

    Parameters
    ----------
    network : OpSpec
        E.g. ``registry.get("net_lenet")``.
    params : dict of ndarray
        Initial parameters, by the names of ``network.differentiable[1:]``. Not modified.
    x : ndarray of shape (N, ...)
    y : ndarray of shape (N,), integer
    batches : list of index arrays, see :func:`minibatches`
    optimizer : OptimizerSpec
        E.g. ``registry.all_optimizers()``'s ``adam``; its hyperparameters are ``hparams``.
    network_hparams : dict
        The network's own hyperparameters (shapes, stride, ...).

    Returns
    -------
    losses : list of float
        The mini-batch loss before each step.
    params : dict of ndarray
        The parameters after the last step.
    """
    names = network.differentiable[1:]
    params = {name: params[name].copy() for name in names}
    states = {
        name: optimizer.init(params[name], **{k: hparams[k] for k in optimizer.init_hparams})
        for name in names
    }
    losses = []
    for batch in batches:
        loss, cache = network.forward(
            x[batch], y[batch], *(params[name] for name in names), **network_hparams
        )
        _, *grads = network.backward(np.float64(1.0), cache)
        for name, grad in zip(names, grads, strict=True):
            params[name], states[name] = optimizer.step(params[name], grad, states[name], **hparams)
        losses.append(float(loss))
    return losses, params
