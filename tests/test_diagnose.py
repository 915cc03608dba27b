"""Naming the mistake (:mod:`gradproof.grading.diagnose`): every known mistake of every API's
catalogue, graded as a candidate, fails with its own diagnosis as the first line; the oracle graded
the same way passes; a result wrong by random noise fails with no diagnosis at all.

The checks run in this process (the candidate is the mutant's module behind a LocalExecutor), with
Hypothesis drawing the examples as grading does, derandomised, without shrinking (a diagnosis is
made on the reported example whether shrunk or not).
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example
from gradproof.grading import diagnose, verdicts
from gradproof.grading.candidates import Candidate
from gradproof.grading.courses import APIS, get_api
from gradproof.grading.executors import LocalExecutor
from gradproof.grading.units import GradedOp, GradedOptimizer

CHECK = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
FORWARD = ("forward", "running_mean", "running_var")


def _unit(api, module, unit: str):
    convention = api.choose_convention([])
    for binding in api.bindings:
        if binding.op == unit:
            return GradedOp(
                Candidate(unit, "path", unit),
                api,
                binding,
                LocalExecutor(module),
                binding.functions,
                convention,
            )
    binding = next(b for b in api.optimizers if b.name == unit)
    return GradedOptimizer(
        Candidate(unit, "path", unit), api, binding, LocalExecutor(module), {binding.fn}, convention
    )


def first_failure(graded, check: str, examples: int = 30) -> str | None:
    """The message of the first failing example of ``check`` ("forward", "backward", "optimizer"),
    or None when every one of ``examples`` passes."""
    checked = settings(CHECK, max_examples=examples)
    if check == "optimizer":

        @checked
        @given(data=st.data())
        def run(data):
            shape = data.draw(gs.shapes(min_dims=1, max_dims=2))
            w = data.draw(gs.arrays(shape))
            grads = [data.draw(gs.arrays(shape)) for _ in range(data.draw(st.integers(1, 4)))]
            verdicts.check_optimizer(graded, np.asarray(w), grads, data.draw(graded.binding.configs))

    else:
        binding = graded.binding
        strategy = binding.forward_examples if check == "forward" else binding.oracle_examples

        @checked
        @given(example=strategy, seed=gs.seeds())
        def run(example, seed):
            getattr(verdicts, f"check_{check}")(graded, example, seed=seed)

    try:
        run()
    except AssertionError as exc:
        return str(exc)
    return None


def _oracle(api):
    return api.oracle_module(api.choose_convention([]))


def _check_of(graded, quantity: str) -> str:
    if isinstance(graded, GradedOptimizer):
        return "optimizer"
    return "forward" if quantity in FORWARD else "backward"


MUTANTS = [
    pytest.param(name, index, id=f"{name}-{mutant.unit}-{index}")
    for name in APIS
    for index, mutant in enumerate(diagnose.catalogue(name).mutants)
]


@pytest.mark.parametrize(("api_name", "index"), MUTANTS)
def test_each_known_mistake_is_named(api_name, index):
    api = get_api(api_name)
    mutant = diagnose.catalogue(api_name).mutants[index]
    candidate = mutant.module(_oracle(api))
    checks = {_check_of(_unit(api, candidate, mutant.unit), q) for q in mutant.quantities}
    lines = []
    for check in sorted(checks):
        # Some mistakes show only on some examples (the stride ignored: a stride of 2 and two output
        # positions). Derandomised examples are not the same in every process (Hypothesis draws
        # floats near the constants of the modules loaded), so a mutant gets 200 to fail on; it
        # stops at its first failure, and the oracle's test keeps to 30.
        message = first_failure(_unit(api, candidate, mutant.unit), check, examples=200)
        if message is not None:
            lines.append(message.splitlines()[0])
    assert lines, f"{mutant.says}: no check fails"
    wanted = {mutant.line(q) for q in mutant.quantities}
    assert set(lines) <= wanted, f"got {lines}, wanted one of {wanted}"


UNITS = sorted({(name, m.unit) for name in APIS for m in diagnose.catalogue(name).mutants})


@pytest.mark.parametrize(("api_name", "unit"), UNITS)
def test_the_oracle_gets_no_diagnosis(api_name, unit):
    api = get_api(api_name)
    graded = _unit(api, _oracle(api), unit)
    if isinstance(graded, GradedOptimizer):
        checks = ("optimizer",)
    else:
        checks = ("forward", "backward") if graded.binding.backward is not None else ("forward",)
    for check in checks:
        assert first_failure(graded, check) is None


def _noisy(oracle, function: str):
    """The oracle with ``function``'s array results shifted by noise drawn from their own values."""
    right = getattr(oracle, function)

    def noisy(*args, **kwargs):
        result = right(*args, **kwargs)
        values = result if isinstance(result, tuple) else (result,)
        shifted = []
        for value in values:
            if isinstance(value, (float, np.ndarray)) and np.asarray(value).dtype.kind == "f":
                seed = abs(hash(np.asarray(value).tobytes())) % 2**32
                value = value + 0.1 * np.random.default_rng(seed).standard_normal(np.shape(value))
            shifted.append(value)
        return tuple(shifted) if isinstance(result, tuple) else shifted[0]

    names = {name: getattr(oracle, name) for name in dir(oracle) if not name.startswith("_")}
    return types.SimpleNamespace(**{**names, function: noisy})


NOISE = [
    ("cs231n", "affine", "affine_backward", "backward"),
    ("cs231n", "batchnorm", "batchnorm_backward", "backward"),
    ("cs231n", "conv2d", "conv_backward_naive", "backward"),
    ("cs231n", "max_pool2d", "max_pool_backward_naive", "backward"),
    ("cs231n", "softmax_loss", "softmax_loss", "forward"),
    ("coursera", "conv2d", "conv_backward", "backward"),
    ("bootcamp", "avg_pool2d", "pool_backward", "backward"),
    ("native", "affine", "affine_backward", "backward"),
    ("cs231n", "adam", "adam", "optimizer"),
    ("bootcamp", "momentum", "update_variables_momentum", "optimizer"),
]


@pytest.mark.parametrize(("api_name", "unit", "function", "check"), NOISE)
def test_random_errors_get_no_diagnosis(api_name, unit, function, check):
    api = get_api(api_name)
    message = first_failure(_unit(api, _noisy(_oracle(api), function), unit), check)
    assert message is not None
    first = message.splitlines()[0]
    assert "differs from reference" in first, first


def test_the_residual_names_a_mistake_outside_the_catalogue():
    """A backward that forgets dout in db (coursera_bugs.py's conv: the count of positions) is
    named by the residual: equal to the gradient for dout = ones."""
    from tests.inprocess import CANDIDATES, load_planted

    api = get_api("coursera")
    module = load_planted(CANDIDATES / "coursera_bugs.py", "gradproof_test_diagnose_coursera_bugs")
    message = first_failure(_unit(api, module, "conv2d"), "backward")
    assert message.splitlines()[0] == (
        "your conv2d db equals the reference's for an upstream gradient of ones: your backward does not "
        "use dout (it differentiates the sum of the outputs)"
    )


def test_the_loops_are_right_with_every_switch_off():
    """The mistakes' loops compute the reference's gradients when no mistake is switched on, so a
    mutant built over them differs from the oracle by its one mistake only."""
    from gradproof.grading.courses import mistakes
    from reference.conv import conv2d_backward, conv2d_forward
    from reference.pooling import (
        avg_pool2d_backward,
        avg_pool2d_forward,
        max_pool2d_backward,
        max_pool2d_forward,
    )

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    out, cache = conv2d_forward(x, w, np.zeros(4), stride=2, padding=1)
    dout = rng.standard_normal(out.shape)
    for got, want in zip(
        mistakes.conv_backward(dout, x, w, (2, 2), (1, 1)), conv2d_backward(dout, cache), strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-12)
    out, cache = max_pool2d_forward(x, kernel_size=(3, 2), stride=(1, 1))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        mistakes.max_pool_backward(dout, x, (3, 2), (1, 1)), max_pool2d_backward(dout, cache)
    )
    out, cache = avg_pool2d_forward(x, kernel_size=(2, 3), stride=(1, 2))
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        mistakes.avg_pool_backward(dout, x.shape, (2, 3), (1, 2)),
        avg_pool2d_backward(dout, cache),
        atol=1e-12,
    )


def test_a_bootcamp_conv_that_skips_its_activation_is_told_so():
    """The activation check compares the output with tanh of the candidate's own Z, so it tells a
    skipped activation apart from a wrong Z (which the forward comparison names)."""
    api = get_api("bootcamp")
    oracle = _oracle(api)
    names = {name: getattr(oracle, name) for name in dir(oracle) if not name.startswith("_")}

    def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
        return oracle.conv_forward(A_prev, W, b, np.positive, padding, stride)

    skipping = types.SimpleNamespace(**{**names, "conv_forward": conv_forward})
    message = first_failure(_unit(api, skipping, "conv2d"), "forward")
    assert message is not None
    assert message.startswith(
        "conv2d forward with activation=np.tanh: yours differs from tanh of your output"
    )


def _normal(seed: int, *shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


RESIDUALS = {
    "mse_loss": (
        Example({"pred": _normal(0, 3, 2), "target": _normal(1, 3, 2)}, {"reduction": "mean"}),
        "your mse_loss dpred is 0.5 times the reference on every element",
    ),
    "nll_loss": (
        Example({"log_probs": _normal(2, 3, 4), "y": np.array([0, 3, 1])}, {"reduction": "sum"}),
        "your nll_loss dlog_probs is the reference with the sign flipped (-1 times it, on every element)",
    ),
    "affine": (
        Example({"x": _normal(3, 2, 3), "w": _normal(4, 3, 4), "b": _normal(5, 4)}),
        "your affine dw is the transpose of the reference (shape (3, 4))",
    ),
    "avg_pool2d": (
        Example({"x": _normal(6, 1, 2, 5, 5)}, {"kernel_size": 3, "stride": 2, "padding": 0}),
        "your avg_pool2d dx is right everywhere except on elements that more than one window reads",
    ),
}


@pytest.mark.parametrize("op", sorted(RESIDUALS))
def test_mistakes_outside_the_catalogue_are_named_by_the_shape_of_their_error(op):
    """tests/candidates/mutants/native_residuals.py, graded in-process on the native API."""
    from tests.inprocess import CANDIDATES, load_planted

    api = get_api("native")
    module = load_planted(CANDIDATES / "mutants" / "native_residuals.py", "gradproof_test_native_residuals")
    example, start = RESIDUALS[op]
    with pytest.raises(AssertionError) as failure:
        verdicts.check_backward(_unit(api, module, op), example, seed=0)
    assert str(failure.value).startswith(start), str(failure.value)
