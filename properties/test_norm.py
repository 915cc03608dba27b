"""Normalisation beyond the shared properties: batch norm's running statistics, and what
standardising means."""

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given

from gradproof.core import registry
from gradproof.core.compare import assert_close
from reference.norm import batch_norm_examples, batch_norm_forward

BATCH_NORM = registry.get("batch_norm")


@given(example=BATCH_NORM.examples)
def test_batch_norm_running_statistics_match_torch_in_place_update(example):
    x, gamma, beta, mean, var = example.inputs.values()
    _, cache = batch_norm_forward(x, gamma, beta, mean, var, **example.hparams)
    torch_mean, torch_var = torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())
    F.batch_norm(
        torch.from_numpy(x),
        torch_mean,
        torch_var,
        torch.from_numpy(gamma),
        torch.from_numpy(beta),
        **example.hparams,
    )
    tol = BATCH_NORM.tolerance("oracle")
    context = f"  example: {example.describe()}"
    assert_close(
        cache.running_mean,
        torch_mean.numpy(),
        tol=tol,
        quantity="batch_norm running_mean",
        context=context,
        expected_label="torch",
    )
    assert_close(
        cache.running_var,
        torch_var.numpy(),
        tol=tol,
        quantity="batch_norm running_var",
        context=context,
        expected_label="torch",
    )


@given(example=batch_norm_examples(training=True))
def test_batch_norm_train_output_is_standardised_per_channel(example):
    x = example.inputs["x"]
    c = x.shape[1]
    hparams = example.hparams
    out, _ = batch_norm_forward(x, np.ones(c), np.zeros(c), np.zeros(c), np.ones(c), **hparams)
    axes = (0, *range(2, x.ndim))
    var = x.var(axis=axes)
    tol = BATCH_NORM.tolerance("oracle")
    assert_close(
        out.mean(axis=axes),
        np.zeros(c),
        tol=tol,
        quantity="batch_norm output mean",
        scale=np.abs(out).max(axis=axes),
    )
    # Unit variance up to eps: the output's variance is var / (var + eps), exactly.
    assert_close(
        out.var(axis=axes), var / (var + hparams["eps"]), tol=tol, quantity="batch_norm output variance"
    )
