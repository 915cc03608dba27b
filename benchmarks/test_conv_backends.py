"""conv2d forward and backward (dx, dw, db) on every backend, on the shapes a CNN course meets.

    pytest benchmarks/test_conv_backends.py --benchmark-only --benchmark-json=results.json
    gradproof bench-report results.json --plot conv.png

Test ids are ``PASS-SHAPE-DTYPE-BACKEND`` (``backward-middle-float32-vectorised``), so ``-k``
selects any slice: ``-k "cifar-first and float64"``. Nothing here asserts a time. Each row records
in ``extra_info`` its achieved GFLOP/s, its time as a multiple of torch's on the same device in
this run (``x_torch``), and its error against torch in float64. A backend whose result is wrong
fails its row and is not timed; ``bench-report`` lists it as wrong.

Defaults that keep a run on the 2-core CPU machine to a few minutes (``--bench-all-shapes`` lifts
both): a backend skips a shape on which, at its speed on the smallest shape, a forward call would
take over 10 s (Python loops run only the smallest), and the ResNet shapes run only on CUDA
backends.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conv_backends import (
    SHAPES,
    Backend,
    Shape,
    candidate_backend,
    fft_backend,
    torch_backends,
    torch_backward,
    torch_forward,
)

from gradproof.core import registry
from gradproof.core.compare import assert_close, tolerance_for
from gradproof.grading import candidates

DTYPES = ("float32", "float64")
PASSES = ("forward", "backward")
SLOW_SECONDS = 10.0
"""A backend whose forward call on a shape would take longer than this, by its speed on the smallest
shape, skips that shape: Python loops (~0.01 GFLOP/s) would take a minute or two a call on
cifar-batch or middle, and a row is several calls."""
ROUND_BUDGET = 1.0
"""Seconds of timed calls per row, split into rounds of at least a millisecond each."""
MIN_ROUNDS, MAX_ROUNDS = 3, 200
WARMUP = {"cpu": 1, "cuda": 10}

WRONG = pytest.StashKey[list]()
BACKENDS = pytest.StashKey[list]()


def _backends(config: pytest.Config) -> list[Backend]:
    """torch first (the baseline of each group runs before the rows compared with it), then the
    other built-ins, the reference, and the candidates."""
    if BACKENDS in config.stash:
        return config.stash[BACKENDS]
    given = [candidates.from_spec(text) for text in config.getoption("--candidate")]
    found = candidates.discover(Path(config.rootpath) / "candidates") + given
    asked_for = {candidate.target for candidate in given}
    backends = [*torch_backends(), fft_backend()]
    reference = candidate_backend(candidates.Candidate("reference", "module", "reference.conv"), "native")
    backends.append(reference)
    problems = []
    for candidate in candidates.unique_names(found):
        backend = candidate_backend(candidate, config.getoption("--candidate-api"))
        if isinstance(backend, str):
            if candidate.target in asked_for:  # named with --candidate: its user must hear why
                problems.append(backend)
            continue
        backends.append(backend)
    config.stash[BACKENDS] = backends
    config.stash[WRONG] = []
    if problems:
        raise pytest.UsageError("; ".join(problems))
    return backends


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    cases, ids = [], []
    for shape in SHAPES:
        for dtype in DTYPES:
            for direction in PASSES:
                for backend in _backends(metafunc.config):
                    cases.append((direction, shape, dtype, backend))
                    ids.append(f"{direction}-{shape.name}-{dtype}-{backend.name}")
    metafunc.parametrize("case", cases, ids=ids)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    output_json.setdefault("gradproof", {})["wrong"] = config.stash.get(WRONG, [])


# -- the truth, and the state one run shares --------------------------------------------------------


class Truth:
    """One shape's inputs, and torch's float64 results on the CPU with the magnitudes their rounding
    scales with (the same convolutions of absolute values: the sum of |terms| of each element)."""

    def __init__(self, shape: Shape) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((shape.n, shape.c, shape.h, shape.h))
        self.w = rng.standard_normal((shape.f, shape.c, shape.k, shape.k))
        self.b = rng.standard_normal(shape.f)
        self.dout = rng.standard_normal((shape.n, shape.f, shape.out_side, shape.out_side))
        self.values = self._results(self.x, self.w, self.b, self.dout, shape)
        self.scales = self._results(abs(self.x), abs(self.w), abs(self.b), abs(self.dout), shape)

    @staticmethod
    def _results(x, w, b, dout, shape):
        args = (*(torch.from_numpy(a) for a in (x, w, b)), shape)
        out, _ = torch_forward(args)
        grads = torch_backward(torch.from_numpy(dout), args)
        return dict(zip(("out", "dx", "dw", "db"), (out.numpy(), *(g.numpy() for g in grads)), strict=True))


class Run:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.truths: dict[str, Truth] = {}
        self.torch_seconds: dict[tuple, float] = {}
        self.rates: dict[tuple, float] = {}

    def truth(self, shape: Shape) -> Truth:
        if shape.name not in self.truths:
            # The current shape's and the smallest's (which every backend's speed is probed on):
            # the ResNet ones are 100s of MB.
            smallest = SHAPES[0].name
            self.truths = {name: t for name, t in self.truths.items() if name == smallest}
            self.truths[shape.name] = Truth(shape)
        return self.truths[shape.name]


@pytest.fixture(scope="session")
def run(request) -> Run:
    return Run(request.config)


# -- timing -----------------------------------------------------------------------------------------


def _synchronised(fn, backend: Backend):
    if backend.device == "cuda":

        def call():
            value = fn()
            torch.cuda.synchronize()  # a CUDA launch returns at once: time the work, not the launch
            return value

        return call
    return fn


def _row(backend: Backend, shape: Shape, dtype: str, direction: str, truth: Truth):
    """The call a row times (its inputs prepared beforehand, untimed), and a function turning what
    the call returns into NCHW NumPy arrays by quantity, for the check."""
    args = backend.prepare(*(a.astype(dtype) for a in (truth.x, truth.w, truth.b)), shape)
    if direction == "forward":

        def call():
            return backend.forward(args)

        def results(value):
            return {"out": backend.to_numpy(value[0])}

    else:
        dout = backend.prepare_dout(truth.dout.astype(dtype))
        cache = backend.forward(args)[1]

        def call():
            return backend.backward(dout, cache)

        def results(value):
            return dict(zip(("dx", "dw", "db"), backend.grads_to_numpy(value), strict=True))

    return _synchronised(call, backend), results


def _plan(call, device: str) -> tuple[int, int, int]:
    """(rounds, iterations, warm-up rounds) that spend about ROUND_BUDGET seconds, from one call."""
    start = time.perf_counter()
    call()
    seconds = max(time.perf_counter() - start, 1e-7)
    iterations = max(1, math.ceil(1e-3 / seconds))
    rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, ROUND_BUDGET / (seconds * iterations))))
    return rounds, iterations, WARMUP[device]


def _median_seconds(call, device: str) -> float:
    """A baseline measured outside pytest-benchmark (its own row was deselected with -k)."""
    rounds, iterations, warmup = _plan(call, device)
    for _ in range(warmup):
        call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        times.append((time.perf_counter() - start) / iterations)
    return float(np.median(times))


# -- the benchmark ----------------------------------------------------------------------------------


def _skip_reason(run: Run, backend: Backend, shape: Shape, direction: str, dtype: str) -> str | None:
    if direction == "backward" and backend.backward is None:
        return f"{backend.name} has a forward only"
    reason = backend.skip(shape)
    if reason or run.config.getoption("--bench-all-shapes"):
        return reason
    if shape.gpu and backend.device != "cuda":
        return f"{shape.name} is a GPU shape; CPU backends run it with --bench-all-shapes"
    smallest = SHAPES[0]
    if shape is not smallest:
        rate = _rate(run, backend, dtype)
        seconds = shape.forward_flops / (rate * 1e9)
        if seconds > SLOW_SECONDS:
            return (
                f"{backend.name} ran at {rate:.3g} GFLOP/s on {smallest.name}: a forward call on "
                f"{shape.name} would take ~{seconds:.0f} s; --bench-all-shapes runs it"
            )
    return None


def _rate(run: Run, backend: Backend, dtype: str) -> float:
    """GFLOP/s of a forward call on the smallest shape: the fastest of up to three, after a warm-up."""
    key = (backend.name, dtype)
    if key not in run.rates:
        shape = SHAPES[0]
        call, _ = _row(backend, shape, dtype, "forward", run.truth(shape))
        call()
        times = []
        while len(times) < 3 and sum(times) < 2.0:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        run.rates[key] = shape.forward_flops / min(times) / 1e9
    return run.rates[key]


def _check(backend: Backend, shape: Shape, dtype: str, direction: str, got: dict, truth: Truth) -> float:
    """The worst error relative to each element's magnitude; raises AssertionError when wrong."""
    spec = registry.get("conv2d")
    tol = tolerance_for("oracle", dtype, spec.tolerances)
    worst = 0.0
    for quantity, value in got.items():
        expected, scale = truth.values[quantity], truth.scales[quantity]
        context = (
            f"  shape {shape.describe()}, {dtype}; expected: torch in float64 on the CPU; rtol is relative "
            "to the sum of |terms| of each element"
        )
        assert_close(
            value.astype(np.float64),
            expected,
            tol=tol,
            quantity=f"conv2d {direction} {quantity} of {backend.name}",
            context=context,
            scale=scale,
            expected_label="torch float64",
        )
        worst = max(worst, float(np.max(np.abs(value - expected) / (scale + 1e-300))))
    return worst


# A wrong backend fails its row before the benchmark fixture is used, on purpose: it is not timed.
@pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")
def test_conv2d(benchmark, run: Run, case) -> None:
    direction, shape, dtype, backend = case
    reason = _skip_reason(run, backend, shape, direction, dtype)
    if reason:
        pytest.skip(reason)
    benchmark.group = f"conv2d {direction} {shape.name} {dtype}"
    truth = run.truth(shape)
    call, results = _row(backend, shape, dtype, direction, truth)
    try:
        error = _check(backend, shape, dtype, direction, results(call()), truth)
    except AssertionError as exc:
        wrong = {"backend": backend.name, "shape": shape.name, "dtype": dtype, "pass": direction}
        run.config.stash[WRONG].append({**wrong, "error": str(exc)})
        raise

    flops = shape.forward_flops * (2 if direction == "backward" else 1)
    benchmark.extra_info.update(
        backend=backend.name,
        device=backend.device,
        shape=shape.name,
        dtype=dtype,
        direction=direction,
        flops=flops,
        max_rel_err=error,
    )
    rounds, iterations, warmup = _plan(call, backend.device)
    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=warmup)
    if benchmark.stats is None:  # --benchmark-disable: the call ran once, untimed
        return
    seconds = benchmark.stats.stats.median
    key = (direction, shape.name, dtype, backend.device)
    if backend.name == f"torch-{backend.device}":
        run.torch_seconds[key] = seconds
    elif key not in run.torch_seconds:
        torch_backend = next(b for b in _backends(run.config) if b.name == f"torch-{backend.device}")
        torch_call, _ = _row(torch_backend, shape, dtype, direction, truth)
        run.torch_seconds[key] = _median_seconds(torch_call, backend.device)
    benchmark.extra_info.update(
        gflops=flops / seconds / 1e9,
        x_torch=seconds / run.torch_seconds[key],
        torch_ms=run.torch_seconds[key] * 1e3,
    )
