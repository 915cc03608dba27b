"""Harmless shape variants: (1, D) for (D,) is graded on its values with a warning, or fails when strict;
anything else passes through untouched for the checks to judge."""

from __future__ import annotations

import numpy as np
import pytest

from gradproof.core.checks import CallFailed
from gradproof.grading.courses import get_api
from gradproof.grading.shapes import ShapePolicy, harmless_variant

BINDINGS = {b.op: b for b in get_api("cs231n").bindings}
DGAMMA_WARNING = "batchnorm dgamma: returns (1, D); the template asks for (D,) (here (1, 4) for (4,))"


@pytest.mark.parametrize(
    ("got", "wanted", "harmless"),
    [
        ((1, 4), (4,), True),
        ((1, 1, 4), (4,), True),
        ((1, 2, 3), (2, 3), True),
        ((1,), (), True),
        ((4,), (1, 4), True),  # either way round: it broadcasts the same
        ((4,), (4,), False),  # the same shape is no variant
        ((4, 1), (4,), False),  # a trailing axis does not broadcast as (4,) does
        ((2, 4), (4,), False),
        ((1, 3), (4,), False),
    ],
)
def test_harmless_variant_is_leading_ones_only(got, wanted, harmless):
    assert harmless_variant(got, wanted) is harmless


def test_a_row_for_a_vector_is_reshaped_and_warned_of_in_the_templates_terms():
    policy = ShapePolicy()
    got = np.arange(4.0).reshape(1, 4)
    accepted = policy.accept("batchnorm dgamma", got, (4,))
    assert accepted.shape == (4,)
    np.testing.assert_array_equal(accepted, np.arange(4.0))
    assert policy.warnings == {"batchnorm dgamma": DGAMMA_WARNING}


def test_several_sizes_are_named_d1_d2():
    policy = ShapePolicy()
    policy.accept("layernorm forward", np.zeros((1, 2, 3)), (2, 3))
    assert policy.warnings["layernorm forward"] == (
        "layernorm forward: returns (1, D1, D2); the template asks for (D1, D2) (here (1, 2, 3) for (2, 3))"
    )


def test_a_warning_keeps_the_example_that_says_most():
    policy = ShapePolicy()
    policy.accept("batchnorm dbeta", np.zeros((1, 1)), (1,))
    assert policy.warnings["batchnorm dbeta"] == "batchnorm dbeta: returns (1, 1); the template asks for (1,)"
    policy.accept("batchnorm dbeta", np.zeros((1, 3)), (3,))
    policy.accept("batchnorm dbeta", np.zeros((1, 1)), (1,))  # says less: not kept
    assert policy.warnings["batchnorm dbeta"] == (
        "batchnorm dbeta: returns (1, D); the template asks for (D,) (here (1, 3) for (3,))"
    )


def test_strict_shapes_fail_the_call_and_warn_of_nothing():
    policy = ShapePolicy(strict=True)
    with pytest.raises(CallFailed) as failure:
        policy.accept("batchnorm dgamma", np.zeros((1, 4)), (4,))
    assert str(failure.value) == f"{DGAMMA_WARNING} (--strict-shapes)"
    assert policy.warnings == {}


@pytest.mark.parametrize("strict", [False, True])
def test_what_is_no_variant_passes_through_untouched(strict):
    policy = ShapePolicy(strict=strict)
    for got, wanted in [
        (np.zeros(4), (4,)),
        (np.zeros((2, 4)), (4,)),
        (np.zeros((4, 1)), (4,)),
        ([[0.0, 0.0]], (2,)),  # not an array: the array check says so, not the shape policy
        (None, (2,)),
    ]:
        assert policy.accept("op dx", got, wanted) is got
    assert policy.warnings == {}


def test_gradients_of_a_single_input_backward():
    policy = ShapePolicy()
    dx = policy.gradients(BINDINGS["relu"], np.ones((1, 5)), [(5,)])
    assert dx.shape == (5,)
    assert list(policy.warnings) == ["relu dx"]


def test_gradients_of_a_tuple_each_held_to_its_inputs_shape():
    policy = ShapePolicy()
    dx, dgamma, dbeta = np.ones((2, 4)), np.ones((1, 4)), np.ones(4)
    grads = policy.gradients(BINDINGS["batchnorm"], (dx, dgamma, dbeta), [(2, 4), (4,), (4,)])
    assert [g.shape for g in grads] == [(2, 4), (4,), (4,)]
    assert grads[0] is dx
    assert grads[2] is dbeta
    assert list(policy.warnings) == ["batchnorm dgamma"]


def test_gradients_beyond_the_shapes_known_are_kept_as_they_are():
    policy = ShapePolicy()
    extra = np.ones((1, 3))
    # Two input shapes for three gradients (an optional input absent), and a fourth value returned.
    grads = policy.gradients(BINDINGS["conv2d"], (np.ones((1, 2)), np.ones((1, 3)), extra, "x"), [(2,), (3,)])
    assert [np.shape(g) for g in grads[:2]] == [(2,), (3,)]
    assert grads[2] is extra
    assert grads[3] == "x"


def test_gradients_that_are_not_a_tuple_are_left_to_the_checks():
    policy = ShapePolicy(strict=True)
    returned = [np.ones((1, 4)), np.ones((1, 4)), np.ones((1, 4))]
    assert policy.gradients(BINDINGS["batchnorm"], returned, [(4,), (4,), (4,)]) is returned
    assert policy.gradients(BINDINGS["batchnorm"], None, [(4,)]) is None
