"""The cost of checking a gradient: gradproof's directional and full checks against
``torch.autograd.gradcheck`` in fast and slow mode, on the identical op and inputs, as the input
grows from 10^2 to 10^5 elements.

    pytest benchmarks/test_gradcheck_cost.py --benchmark-only --benchmark-group-by=param:case

Nothing here asserts a time; compare the rows of one run. The element-wise methods (gradproof's full
check, torch's slow gradcheck) run only up to 10^4 elements: at 10^5 each needs 2 * 10^5 forward
calls or Jacobian columns, minutes per op.
"""

import numpy as np
import pytest
import torch

from gradproof.core import registry
from gradproof.core.checks import check_gradients
from gradproof.core.registry import Example

SIZES = {"1e2": 100, "1e3": 1_000, "1e4": 10_000, "1e5": 100_000}
ELEMENTWISE_LIMIT = 10_000


def conv2d_example(size, rng):
    n, c = (1, 4) if size <= 1_000 else (4, 4) if size <= 10_000 else (10, 10)
    side = round((size / (n * c)) ** 0.5)
    return Example(
        inputs={
            "x": rng.standard_normal((n, c, side, side)),
            "w": rng.standard_normal((4, c, 3, 3)),
            "b": rng.standard_normal(4),
        },
        hparams={"stride": 1, "padding": 1, "dilation": 1, "groups": 1},
    )


def affine_example(size, rng):
    n = 10 if size <= 1_000 else 100
    return Example(
        inputs={
            "x": rng.standard_normal((n, size // n)),
            "w": rng.standard_normal((size // n, 10)),
            "b": rng.standard_normal(10),
        }
    )


def batch_norm_example(size, rng):
    n, c = (2, 2) if size <= 1_000 else (4, 4) if size <= 10_000 else (10, 10)
    side = round((size / (n * c)) ** 0.5)
    return Example(
        inputs={
            "x": rng.standard_normal((n, c, side, side)),
            "gamma": rng.standard_normal(c),
            "beta": rng.standard_normal(c),
            "running_mean": np.zeros(c),
            "running_var": np.ones(c),
        },
        hparams={"training": True, "momentum": 0.1, "eps": 1e-5},
    )


EXAMPLES = {"conv2d": conv2d_example, "affine": affine_example, "batch_norm": batch_norm_example}
METHODS = ["gradproof_directional", "torch_fast", "gradproof_full", "torch_slow"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("op", EXAMPLES)
def test_gradient_check_cost(benchmark, op, size, method):
    spec = registry.get(op)
    example = EXAMPLES[op](SIZES[size], np.random.default_rng(0))
    elements = example.inputs["x"].size
    if method in ("gradproof_full", "torch_slow") and elements > ELEMENTWISE_LIMIT:
        pytest.skip(f"element-wise checks stop at {ELEMENTWISE_LIMIT} elements (see the module docstring)")
    benchmark.extra_info.update(op=op, elements=int(elements), method=method, case=f"{op}-{size}")

    if method.startswith("gradproof"):
        run = lambda: check_gradients(spec, example, seed=0, full=method == "gradproof_full")  # noqa: E731
    else:
        tensors = [
            torch.tensor(v, requires_grad=name in spec.differentiable) for name, v in example.inputs.items()
        ]

        def twin(*args):
            return spec.twin(*args, **example.hparams)

        run = lambda: torch.autograd.gradcheck(twin, tensors, fast_mode=method == "torch_fast")  # noqa: E731
    slow = method in ("gradproof_full", "torch_slow") and elements >= 1_000
    if slow:
        benchmark.pedantic(run, rounds=1, iterations=1)
    else:
        benchmark(run)
