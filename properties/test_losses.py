"""Losses beyond the shared properties: non-negativity, softmax shift invariance, and the loss of a
perfect prediction."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import registry
from gradproof.core import strategies as gs
from gradproof.core.compare import assert_close
from reference.losses import (
    binary_cross_entropy_with_logits_forward,
    kl_div_forward,
    multi_margin_loss_forward,
    softmax_cross_entropy_forward,
    softmax_cross_entropy_soft_forward,
)
from reference.regression_losses import huber_loss_forward, l1_loss_forward, mse_loss_forward

NON_NEGATIVE = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "huber_loss",
    "l1_loss",
    "l2_penalty",
    "mse_loss",
    "multi_margin_loss",
    "nll_loss",  # on log-probabilities, which are <= 0
    "softmax_cross_entropy",
    "softmax_cross_entropy_soft",
]


@pytest.mark.parametrize("name", NON_NEGATIVE)
@given(data=st.data())
def test_loss_is_non_negative(name, data):
    spec = registry.get(name)
    example = data.draw(spec.examples, label=f"{name} example")
    out, _ = spec.forward(*example.inputs.values(), **example.hparams)
    assert np.all(np.asarray(out) >= 0), f"{name} forward is negative: {out}\n  example: {example.describe()}"


@given(example=registry.get("kl_div").examples)
def test_kl_divergence_is_non_negative(example):
    # Per example (batchmean), not per element: p log(p / q) alone is negative wherever q > p.
    log_q, p = example.inputs.values()
    out, _ = kl_div_forward(log_q, p, reduction="batchmean")
    # Gibbs' inequality is exact. In floating point, log p - log q rounds at the size of the logs
    # themselves, so the sum can dip below 0 by that much when q is p (Hypothesis found 2e-17).
    rounding = 1e-12 * np.sum(p * (np.abs(np.log(p)) + np.abs(log_q)))
    assert out >= -rounding, f"KL(p || q) = {out} < 0"


SHIFT_INVARIANT = ["softmax", "log_softmax", "softmax_cross_entropy", "softmax_cross_entropy_soft"]


@pytest.mark.parametrize("name", SHIFT_INVARIANT)
@given(data=st.data())
def test_softmax_is_invariant_to_shifting_the_logits(name, data):
    spec = registry.get(name)
    example = data.draw(spec.examples, label=f"{name} example")
    x = example.inputs["x"]
    axis = example.hparams.get("axis", 1)
    shape = list(x.shape)
    shape[axis] = 1
    shift = data.draw(
        gs.arrays(tuple(shape), elements=gs.floats(min_value=-10.0, max_value=10.0)), label="shift"
    )
    shifted = {**example.inputs, "x": x + shift}
    out, _ = spec.forward(*example.inputs.values(), **example.hparams)
    out_shifted, _ = spec.forward(*shifted.values(), **example.hparams)
    assert_close(
        out_shifted,
        out,
        tol=spec.tolerance("oracle"),
        quantity=f"{name} forward of shifted logits",
        context=f"  example: {example.describe()}",
        scale=1.0 + np.abs(out),
    )


@given(x=gs.shapes(max_dims=3).flatmap(gs.arrays), delta=gs.floats(min_value=0.1, max_value=3.0))
def test_regression_losses_of_a_perfect_prediction_are_zero(x, delta):
    assert mse_loss_forward(x, x.copy())[0] == 0.0
    assert l1_loss_forward(x, x.copy())[0] == 0.0
    assert huber_loss_forward(x, x.copy(), delta=delta)[0] == 0.0


@given(data=st.data())
def test_kl_of_a_distribution_from_itself_is_zero(data):
    p = data.draw(registry.get("kl_div").examples).inputs["p"]
    assert kl_div_forward(np.log(p), p)[0] == 0.0


@given(logits=st.tuples(st.integers(1, 5), st.integers(1, 6)).flatmap(gs.arrays))
def test_soft_cross_entropy_of_the_target_itself_is_its_entropy(logits):
    # A strictly positive target (a softmax), so that its own log-probabilities are finite logits.
    target = np.exp(logits - logits.max(axis=1, keepdims=True))
    target /= target.sum(axis=1, keepdims=True)
    loss, _ = softmax_cross_entropy_soft_forward(np.log(target), target, reduction="none")
    entropy = -(target * np.log(target)).sum(axis=1)
    assert_close(
        loss,
        entropy,
        tol=registry.get("softmax_cross_entropy_soft").tolerance("oracle"),
        quantity="cross-entropy of the target's own log-probabilities",
        scale=1.0 + entropy,
    )


LEAD = 40.0
"""How far the true class's logit or score leads: e^-40 is 4e-18."""


@given(data=st.data())
def test_classification_losses_of_a_confident_right_prediction_vanish(data):
    n, c = data.draw(st.integers(1, 5), label="n"), data.draw(st.integers(1, 6), label="c")
    y = np.asarray(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n), label="y"))
    x = data.draw(gs.arrays((n, c)), label="x")
    x[np.arange(n), y] = x.max(axis=1) + LEAD
    assert softmax_cross_entropy_forward(x, y)[0] <= (c - 1) * np.exp(-LEAD)
    assert multi_margin_loss_forward(x, y)[0] == 0.0
    labels = (data.draw(gs.arrays((n,)), label="signs") > 0).astype(np.float64)
    logits = np.where(labels == 1, LEAD, -LEAD)
    assert binary_cross_entropy_with_logits_forward(logits, labels)[0] <= np.exp(-LEAD)
