"""Every registered op, plug-ins and networks included, can fail its properties: a backward off by
10% fails the finite-difference check, and a forward off by 10% fails the PyTorch oracle. A strategy
that drew only degenerate examples (all-zero gradients, say) would let wrong code pass; this is
where that would show."""

import dataclasses

import numpy as np
import pytest

from gradproof.core import registry
from tests.helpers import search


def scaled(function, factor, *, forward):
    def wrong(*args, **kwargs):
        result = function(*args, **kwargs)
        if forward:
            out, cache = result
            return np.asarray(out) * factor, cache
        if isinstance(result, tuple):
            return tuple(None if grad is None else grad * factor for grad in result)
        return result * factor

    return wrong


@pytest.mark.parametrize("spec", registry.all_specs(), ids=lambda spec: spec.name)
def test_a_backward_off_by_ten_percent_fails_the_gradient_check(spec):
    wrong = dataclasses.replace(spec, backward=scaled(spec.backward, 1.1, forward=False))
    with pytest.raises(AssertionError, match=f"{spec.name} d"):
        search("gradients", wrong, shrink=False)


@pytest.mark.parametrize("spec", registry.all_specs(), ids=lambda spec: spec.name)
def test_a_forward_off_by_ten_percent_fails_the_oracle(spec):
    wrong = dataclasses.replace(spec, forward=scaled(spec.forward, 1.1, forward=True))
    with pytest.raises(AssertionError, match=f"{spec.name} forward"):
        search("twin", wrong, shrink=False)
