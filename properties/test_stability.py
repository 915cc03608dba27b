"""The reference ops that exponentiate their input stay finite, and equal their PyTorch twin, at the
logits a real network produces (magnitudes up to about 1e3), where a softmax that does not subtract
its row maximum, or a sigmoid written as ``exp(x) / (1 + exp(x))``, overflows.

The ops' own examples are standard normal, where every implementation is finite; these are the same
examples pushed away from 0 to magnitudes of at least ``SHIFT``: an exponential of any of them
overflows (or underflows to 0, and a ratio of two such is NaN) unless the op is written stably.
(softplus is left out: its PyTorch threshold makes it the identity above 20, a convention the
reference follows and properties/test_kinks.py checks.)
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import registry
from gradproof.core import strategies as gs
from gradproof.core.checks import check_against_twin

EXPONENTIATING = (
    "softmax",
    "log_softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_soft",
    "sigmoid",
    "binary_cross_entropy_with_logits",
)
SHIFT = 800.0
"""Past exp's float64 overflow, at about 709."""


@pytest.mark.parametrize("name", EXPONENTIATING)
@given(data=st.data())
def test_exponentiating_ops_match_torch_at_large_logits(name, data):
    spec = registry.get(name)
    example = data.draw(spec.examples, label=f"{name} example")
    x = example.inputs["x"]
    example.inputs["x"] = 100.0 * x + SHIFT * np.where(x < 0, -1.0, 1.0)
    check_against_twin(spec, example, seed=data.draw(gs.seeds(), label="seed"))
