"""Every planted bug is caught by the right check, with a message that names the op, the quantity
and the worst element; and a bug is not blamed on a property it does not break."""

import dataclasses

import numpy as np
import pytest

from gradproof.core import registry
from gradproof.core.optim_checks import check_trajectory
from reference.pooling import max_pool2d_backward, max_pool2d_forward
from tests.helpers import search
from tests.planted import (
    PLANTED,
    PLANTED_OPTIMIZERS,
    sigmoid_backward_missing_factor,
    softmax_loss_not_averaged_forward,
    tie_mask_backward,
)


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: f"{p.id}-{p.check}")
def test_planted_bug_is_caught(planted):
    spec = dataclasses.replace(registry.get(planted.op), **planted.replaces)
    with pytest.raises(AssertionError) as failure:
        # The first failing example names the op, the quantity and the worst element as a shrunk
        # one does; shrinking it (three quarters of this test's time) is Hypothesis's own business.
        search(planted.check, spec, shrink=False)
    message = str(failure.value)
    for words in (*planted.message, "example:"):
        assert words in message, f"{words!r} missing from the failure message:\n{message}"


def test_forward_bug_with_consistent_backward_passes_finite_differences():
    # Summing instead of averaging, in both passes: the backward is right *for that forward*, so the
    # finite-difference property passes and only the oracle catches the forward. The two checks
    # together say "your backward is consistent with your forward, but your forward is wrong".
    spec = dataclasses.replace(
        registry.get("softmax_cross_entropy"), forward=softmax_loss_not_averaged_forward
    )
    search("gradients", spec)
    with pytest.raises(AssertionError, match="softmax_cross_entropy forward"):
        search("twin", spec)


@pytest.mark.parametrize("check", ["linearity", "contracts"])
def test_wrong_gradient_is_not_blamed_on_other_properties(check):
    spec = dataclasses.replace(registry.get("sigmoid"), backward=sigmoid_backward_missing_factor)
    search(check, spec)


def test_every_tie_max_pool_is_right_on_distinct_values_and_wrong_only_on_ties():
    # The Coursera template's mask: the gradient properties draw distinct values and cannot see
    # it; the tie-convention test (properties/test_pooling.py) is what catches it.
    distinct = np.random.default_rng(0).permutation(16).astype(np.float64).reshape(1, 1, 4, 4)
    tied = np.ones((1, 1, 2, 2))
    for x, agrees in ((distinct, True), (tied, False)):
        out, cache = max_pool2d_forward(x, kernel_size=2)
        dout = np.ones_like(out)
        reference = max_pool2d_backward(dout, cache)
        assert np.array_equal(tie_mask_backward(x, dout, 2), reference) == agrees


@pytest.mark.parametrize(
    ("name", "step", "message"), PLANTED_OPTIMIZERS, ids=lambda v: getattr(v, "__name__", v)
)
def test_planted_optimizer_bug_is_caught_by_the_trajectory(name, step, message):
    spec = dataclasses.replace(next(o for o in registry.all_optimizers() if o.name == name), step=step)
    hparams = {"lr": 0.1}
    if name == "sgd":
        hparams["momentum"] = 0.9
    with pytest.raises(AssertionError, match=message):
        check_trajectory(spec, np.ones(4), [np.full(4, 0.5), np.full(4, -1.5), np.full(4, 2.0)], hparams)


@pytest.mark.parametrize("planted", [p for p in PLANTED if p.check == "twin_at_kinks"], ids=lambda p: p.id)
@pytest.mark.parametrize("check", ["gradients", "twin"])
def test_a_wrong_convention_at_a_kink_passes_everywhere_else(planted, check):
    # Wrong only on the kink, which the other properties' examples keep away from: the at-kink
    # examples are the only place it shows.
    search(check, dataclasses.replace(registry.get(planted.op), **planted.replaces))
