"""Every planted bug is caught by the right check, with a message that names the op, the quantity
and the worst element; and a bug is not blamed on a property it does not break."""

import dataclasses

import pytest

from gradproof import registry
from tests.helpers import search
from tests.planted import PLANTED, sigmoid_backward_missing_factor, softmax_loss_not_averaged_forward


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: f"{p.id}-{p.check}")
def test_planted_bug_is_caught(planted):
    spec = dataclasses.replace(registry.get(planted.op), **planted.replaces)
    with pytest.raises(AssertionError) as failure:
        search(planted.check, spec)
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
