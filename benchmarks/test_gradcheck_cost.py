"""The cost of checking a gradient: gradproof's checks against ``torch.autograd.gradcheck`` in fast
and slow mode, on the identical op and inputs, as the input grows from 10^2 to 10^6 elements.

    pytest benchmarks/test_gradcheck_cost.py --benchmark-only --benchmark-group-by=param:case

Methods:

``gradproof_joint``
    the default gradient check of ``gradproof.check`` (:func:`gradproof.core.joint.check_gradients_joint`):
    3 random directions over all inputs together, 2 forward calls each.
``gradproof_check``
    ``gradproof.check`` end to end: the contracts (a second forward and backward, inputs compared) and
    the joint check.
``gradproof_locate``
    the joint check on a backward with one wrong element of ``x`` (its error 100 times the allowed
    error along a direction): the time and forward calls to fail and name that element by group
    testing; ``extra_info["found"]`` says whether it named the right one.
``gradproof_directional``
    the properties' directional check (``check_gradients(..., full=False)``): 2 directions per input,
    each input on its own.
``gradproof_full`` and ``torch_slow``
    element by element; they stop at 10^4 elements (2 * 10^5 forward calls or Jacobian columns at 10^5,
    minutes per op).
``torch_fast``
    ``gradcheck(fast_mode=True)``.

Each row's ``extra_info`` has ``forward_calls``: the forward (or twin) calls of one run. Nothing here
asserts a time; compare the rows of one run.
"""

import dataclasses

import numpy as np
import pytest
import torch

import gradproof
from gradproof.core import registry
from gradproof.core.checks import check_gradients
from gradproof.core.joint import check_gradients_joint, typical_allowed
from gradproof.core.registry import Example

SIZES = {"1e2": 100, "1e3": 1_000, "1e4": 10_000, "1e5": 100_000, "1e6": 1_000_000}
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
    n = 10 if size <= 1_000 else 100 if size <= 100_000 else 1000
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
METHODS = [
    "gradproof_joint",
    "gradproof_check",
    "gradproof_locate",
    "gradproof_directional",
    "torch_fast",
    "gradproof_full",
    "torch_slow",
]
WRONG_ELEMENT = 37


class Counted:
    """A function that counts its calls."""

    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


def with_one_wrong_element(spec):
    """The spec with a backward whose dx is wrong at one element, by 100 times the allowed error along
    a random direction (missed with probability 5e-7: gradproof.core.joint.miss_probability)."""
    tol = spec.tolerance("fd")

    def backward(dout, cache):
        grads = list(spec.backward(dout, cache))
        named = dict(zip(spec.differentiable, grads, strict=True))
        dx = grads[0].copy()
        dx.flat[WRONG_ELEMENT] += 100.0 * typical_allowed(tol, named)
        grads[0] = dx
        return tuple(grads)

    return dataclasses.replace(spec, backward=backward)


def locate(spec, example):
    try:
        check_gradients_joint(spec, example, seed=0)
    except AssertionError as failure:
        return getattr(failure, "details", {}).get("index")
    return None


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
        counted = Counted(spec.forward)
        checked = dataclasses.replace(spec, forward=counted)
        if method == "gradproof_joint":
            run = lambda: check_gradients_joint(checked, example, seed=0)  # noqa: E731
        elif method == "gradproof_check":
            inputs = {**example.inputs, **example.hparams}
            run = lambda: gradproof.check(counted, spec.backward, wrt=spec.differentiable, **inputs)  # noqa: E731
        elif method == "gradproof_locate":
            checked = with_one_wrong_element(checked)
            run = lambda: locate(checked, example)  # noqa: E731
            benchmark.extra_info["found"] = bool(
                run() == np.unravel_index(WRONG_ELEMENT, example.inputs["x"].shape)
            )
        else:
            full = method == "gradproof_full"
            run = lambda: check_gradients(checked, example, seed=0, full=full)  # noqa: E731
    else:
        tensors = [
            torch.tensor(v, requires_grad=name in spec.differentiable) for name, v in example.inputs.items()
        ]

        def twin(*args):
            return spec.twin(*args, **example.hparams)

        counted = Counted(twin)
        fast = method == "torch_fast"
        run = lambda: torch.autograd.gradcheck(counted, tensors, fast_mode=fast)  # noqa: E731
    calls = []

    def counted_run():
        counted.calls = 0
        run()
        calls.append(counted.calls)

    slow = (method in ("gradproof_full", "torch_slow") and elements >= 1_000) or elements >= 1_000_000
    if slow:
        benchmark.pedantic(counted_run, rounds=1 if elements < 1_000_000 else 3, iterations=1)
    else:
        benchmark(counted_run)
    benchmark.extra_info["forward_calls"] = calls[-1]
