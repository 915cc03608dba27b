"""Large logits: an op that exponentiates its input is also run where an unstable implementation
overflows, which the comparison with the reference (standard normal examples) never reaches."""

from __future__ import annotations

import numpy as np

from gradproof.core.checks import call_forward
from gradproof.core.registry import Example

MAGNITUDE = 800.0
"""Past exp's float64 overflow (about 709): every input is pushed at least this far from 0."""

ADVICE = {
    "softmax": "subtract each row's maximum before np.exp",
    "log_softmax": "subtract each row's maximum before np.exp (log-sum-exp)",
    "softmax_cross_entropy": "subtract each row's maximum before np.exp (log-sum-exp)",
    "softmax_cross_entropy_soft": "subtract each row's maximum before np.exp (log-sum-exp)",
    "sigmoid": "exponentiate only -|x| (exp(x) / (1 + exp(x)) where x < 0, 1 / (1 + exp(-x)) elsewhere)",
    "binary_cross_entropy_with_logits": "use max(x, 0) - x * target + log1p(exp(-|x|))",
}
"""The ops checked, and how to write each stably."""


def pushed(example: Example, name: str = "x") -> Example:
    """``example`` with input ``name`` scaled and pushed away from 0 to magnitudes of at least
    :data:`MAGNITUDE`, signs kept."""
    x = example.inputs[name]
    inputs = dict(example.inputs)
    inputs[name] = 100.0 * x + MAGNITUDE * np.where(x < 0, -1.0, 1.0)
    return Example(inputs, dict(example.hparams))


def check(op: str):
    """A binding check (``check(sides, example, context)``): the candidate's forward is finite on
    the example pushed to large logits, where the reference's is."""

    def finite_at_large_logits(sides, example: Example, context: str) -> None:
        big = pushed(example)
        out, _ = call_forward(sides.candidate, big.copy(), context)
        if np.all(np.isfinite(out)):
            return
        expected, _ = call_forward(sides.oracle, big.copy(), context)
        if not np.all(np.isfinite(expected)):
            return  # the op itself is infinite there: nothing to say
        raise AssertionError(
            f"{op}: overflows (NaN or inf) for inputs of magnitude {MAGNITUDE:g}: {ADVICE[op]}\n"
            f"  at x = 100 x + {MAGNITUDE:g} sign(x) of this example\n{context}"
        )

    return finite_at_large_logits
