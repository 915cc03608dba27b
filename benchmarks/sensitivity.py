"""How small a gradient error each checker detects: gradproof's default and precise checks against
``torch.autograd.gradcheck``, on the reference ops' own examples, in float64.

    python benchmarks/sensitivity.py                       # a few minutes on 2 cores
    python benchmarks/sensitivity.py --false-alarm-examples 1000 --ops tanh,affine

For every op with a backward, ``--examples`` examples are drawn from its strategy (Hypothesis,
derandomised: the same examples every run). The reference backward is then made wrong by a relative
error delta, ``grad * (1 + delta * z)`` with ``z`` standard normal (fixed per example), on every
differentiable input, for delta = 1e-1, 1e-2, ..., 1e-10. A method *detects* delta when it fails on
an example; each cell shows the smallest delta detected on every example (of those where some
gradient is not zero, so that a relative error can show) / on half of them (the median), and the
false alarms: failures of the correct backward on ``--false-alarm-examples`` examples (1000 is the
``thorough`` profile's count). "none": some example passes even delta = 0.1 (its gradients are below
the absolute tolerance: a penalty with lambda = 1e-271, a saturated softmax).

Methods:

``default``
    ``gradproof.check``'s gradient check (:func:`gradproof.core.joint.check_gradients_joint`), 3 joint
    random directions, the fixed step 1e-6 and the finite-difference tolerance (rtol 1e-3).
``precise``
    the same with ``precise=True``: Richardson extrapolation over 4 steps and its error estimate.
``properties``
    the properties' check (:func:`gradproof.core.checks.check_gradients`): 2 directions per input, and
    element by element for inputs of at most 64 elements.
``torch``
    ``torch.autograd.gradcheck`` (its default: slow mode, element by element, atol 1e-5, rtol 1e-3) on
    a ``torch.autograd.Function`` calling the reference forward and the wrong backward.

Nothing is timed here. Ops that declare kinks are measured too, marked in the table: their examples
keep a margin of 1e-3 from the kinks, wider than precise mode's widest step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch.autograd.gradcheck import GradcheckError

from gradproof.core import registry
from gradproof.core.checks import check_gradients
from gradproof.core.joint import check_gradients_joint

DELTAS = [10.0**-k for k in range(1, 11)]
METHODS = ("default", "precise", "properties", "torch")


def draw_examples(spec, count: int, seed: int = 0) -> list:
    """``count`` examples of ``spec``, the same every run."""
    drawn = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def collect(data):
        drawn.append(data.draw(spec.examples))

    collect()
    return drawn[:count]


def moves(spec, example) -> bool:
    """Whether a relative error can show on ``example``: some gradient is not zero there (Hypothesis's
    first, minimal example of conv2d has x = w = 0, and every dw and dx 0)."""
    out, cache = spec.forward(*example.inputs.values(), **example.hparams)
    grads = spec.backward(np.random.default_rng(0).standard_normal(np.shape(out)), cache)
    grads = grads if isinstance(grads, (tuple, list)) else (grads,)
    return any(g is not None and np.any(np.asarray(g) != 0) for g in grads)


def wrong_by(spec, delta: float, seed: int):
    """``spec`` with its backward's gradients multiplied by ``1 + delta * z``, ``z`` fixed by ``seed``."""
    if delta == 0:
        return spec

    def backward(dout, cache):
        grads = spec.backward(dout, cache)
        single = not isinstance(grads, (tuple, list))
        rng = np.random.default_rng(seed)
        wrong = [
            None if g is None else np.asarray(g) * (1 + delta * rng.standard_normal(np.shape(g)))
            for g in ((grads,) if single else grads)
        ]
        return wrong[0] if single else tuple(wrong)

    return dataclasses.replace(spec, backward=backward)


def torch_gradcheck(spec, example) -> None:
    """``torch.autograd.gradcheck`` of the spec's forward and backward, through an autograd Function."""
    names = list(example.inputs)
    present = [n for n in spec.differentiable if n in example.inputs]

    class Function(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *tensors):
            out, cache = spec.forward(*(t.detach().numpy() for t in tensors), **example.hparams)
            ctx.cache = cache
            return torch.from_numpy(np.array(out, dtype=np.float64))

        @staticmethod
        def backward(ctx, grad):
            grads = spec.backward(grad.detach().numpy().copy(), ctx.cache)
            grads = (grads,) if not isinstance(grads, (tuple, list)) else grads
            if len(grads) == len(spec.differentiable) != len(present):
                grads = [g for n, g in zip(spec.differentiable, grads, strict=True) if n in present]
            by_name = dict(zip(present, grads, strict=True))
            return tuple(
                torch.from_numpy(np.array(by_name[n], dtype=np.float64)) if n in by_name else None
                for n in names
            )

    tensors = [
        torch.tensor(v, requires_grad=n in present and np.issubdtype(v.dtype, np.floating))
        for n, v in example.inputs.items()
    ]
    torch.autograd.gradcheck(lambda *t: Function.apply(*t), tensors)


def fails(method: str, spec, example, seed: int) -> bool:
    try:
        if method == "default":
            check_gradients_joint(spec, example, seed=seed)
        elif method == "precise":
            check_gradients_joint(spec, example, seed=seed, precise=True)
        elif method == "properties":
            check_gradients(spec, example, seed=seed)
        else:
            torch_gradcheck(spec, example)
    except (AssertionError, GradcheckError):
        return True
    return False


def smallest_detected(method: str, spec, example, seed: int) -> float | None:
    """The smallest delta of :data:`DELTAS` that ``method`` detects on ``example``, going down from 1e-1
    until one passes; None when even 1e-1 passes."""
    smallest = None
    for delta in DELTAS:
        if not fails(method, wrong_by(spec, delta, seed), example, seed=seed):
            break
        smallest = delta
    return smallest


def measure(spec, examples: list, false_alarm_examples: list, methods) -> dict:
    row = {"op": spec.name, "kinks": spec.kinks is not None, "examples": len(examples)}
    for method in methods:
        alarms = [i for i, ex in enumerate(false_alarm_examples) if fails(method, spec, ex, seed=i)]
        found = [smallest_detected(method, spec, ex, seed=i) for i, ex in enumerate(examples)]
        every = None if None in found or not found else max(found)
        median = float(np.median([np.inf if d is None else d for d in found])) if found else None
        row[method] = {
            "every": every,
            "median": None if median is None or math.isinf(median) else median,
            "per_example": found,
            "false_alarms": len(alarms),
            "of": len(false_alarm_examples),
        }
    return row


def cell(result: dict) -> str:
    def text(delta):
        return "none" if delta is None else f"{delta:.0e}"

    alarms = f", {result['false_alarms']} false" if result["false_alarms"] else ""
    return f"{text(result['every'])} / {text(result['median'])}{alarms}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10, help="examples per op for detection (10)")
    parser.add_argument(
        "--false-alarm-examples", type=int, default=100, help="correct examples per op (100; thorough: 1000)"
    )
    parser.add_argument("--ops", default="", help="comma-separated op names (default: every op)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"among {', '.join(METHODS)}")
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    wanted = set(filter(None, args.ops.split(",")))
    specs = [s for s in registry.all_specs() if s.backward is not None and (not wanted or s.name in wanted)]
    rows = []
    print("| op | kinks | " + " | ".join(f"{m}: every / median" for m in methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for spec in specs:
        examples = draw_examples(spec, max(args.examples, args.false_alarm_examples))
        detectable = [ex for ex in examples if moves(spec, ex)][: args.examples]
        row = measure(spec, detectable, examples[: args.false_alarm_examples], methods)
        rows.append(row)
        kinks = "yes" if row["kinks"] else ""
        print(f"| {spec.name} | {kinks} | " + " | ".join(cell(row[m]) for m in methods) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"deltas": DELTAS, "rows": rows}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
