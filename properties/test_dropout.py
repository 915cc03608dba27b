"""Dropout beyond the shared properties: what the mask does, and its statistics."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.compare import Tolerance, assert_close
from reference.dropout import dropout_backward, dropout_forward

P = st.sampled_from([0.0, 0.1, 0.5, 0.9])
SEED = st.integers(0, 2**16)


@given(x=gs.shapes(max_side=5).flatmap(gs.arrays), p=P, seed=SEED)
def test_eval_mode_is_the_identity(x, p, seed):
    out, cache = dropout_forward(x, p=p, training=False, seed=seed)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), np.ones_like(x))


@given(x=gs.shapes(max_side=5).flatmap(gs.arrays), p=P, seed=SEED)
def test_train_mode_outputs_zero_or_scaled_input_and_backward_uses_that_mask(x, p, seed):
    out, cache = dropout_forward(x, p=p, training=True, seed=seed)
    # x itself may be 0 where kept: judge by the mask's own record of what it kept.
    kept = cache != 0
    np.testing.assert_array_equal(out[~kept], 0.0)
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)
    dx = dropout_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx != 0, kept)
    np.testing.assert_allclose(dx[kept], 1 / (1 - p), rtol=1e-15)
    again, _ = dropout_forward(x, p=p, training=True, seed=seed)
    np.testing.assert_array_equal(again, out)


DRAWS = 4000
FALSE_ALARM = 1e-12


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mean_over_many_draws_approaches_x(p):
    r"""Each output lies in [0, x / (1 - p)] with mean x. By Hoeffding's inequality the mean of
    ``DRAWS`` independent draws is further than

    .. math:: t = \frac{|x|}{1 - p} \sqrt{\frac{\ln(2 / \delta)}{2 \cdot \text{DRAWS}}}

    from x with probability below :math:`\delta` = 1e-12 per element, so the bound holds for any
    seeds; the seeds 0..DRAWS-1 are fixed anyway, so the test is deterministic."""
    x = np.linspace(-3.0, 3.0, 25)
    total = np.zeros_like(x)
    for seed in range(DRAWS):
        total += dropout_forward(x, p=p, training=True, seed=seed)[0]
    bound = np.abs(x) / (1 - p) * math.sqrt(math.log(2 / FALSE_ALARM) / (2 * DRAWS))
    # rtol 1 against scale=bound: each element may be off by its own Hoeffding bound, no more.
    assert_close(
        total / DRAWS,
        x,
        tol=Tolerance(atol=0.0, rtol=1.0),
        scale=bound,
        quantity=f"dropout mean over {DRAWS} draws, p={p}",
    )
