"""gradproof.check, assert_check and check_op: one layer's backward checked in one call, and the joint
directional check under them (its miss probability, its localisation's forward calls)."""

import itertools
import math
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import gradproof
from gradproof.core.compare import Tolerance
from gradproof.core.joint import check_gradients_joint, miss_probability, typical_allowed
from gradproof.core.registry import Example, OpSpec
from reference.activations import relu_backward, relu_forward
from reference.conv import conv2d_backward, conv2d_forward
from reference.linear import affine_backward, affine_forward

RNG = np.random.default_rng(0)
X, W, B = RNG.standard_normal((4, 5)), RNG.standard_normal((5, 3)), RNG.standard_normal(3)


def mean_bias_backward(dout, cache):
    """A planted bug: the bias gradient averaged over the batch instead of summed."""
    dx, dw, _ = affine_backward(dout, cache)
    return dx, dw, dout.mean(axis=0)


def test_a_correct_layer_passes():
    result = gradproof.check(affine_forward, affine_backward, x=X, w=W, b=B)
    assert result
    assert [f.check for f in result.findings] == ["contracts", "gradients"]
    assert str(result).startswith("affine: passed 2 checks (contracts, gradients)")
    assert "<table>" in result._repr_html_()
    assert result.raise_for_failure() is result


def test_a_wrong_gradient_fails_naming_the_element():
    result = gradproof.check(affine_forward, mean_bias_backward, x=X, w=W, b=B)
    assert not result
    (failure,) = result.failures
    assert failure.check == "gradients"
    assert failure.quantity == "affine db"
    assert len(failure.element) == 1
    # dout has 4 rows: the mean is a quarter of the sum, at whichever element was found.
    assert failure.got == pytest.approx(failure.expected / 4, rel=1e-6)
    text = str(result)
    assert "affine: FAILED 1 of 2 checks (gradients)" in text
    assert f"backward differs from finite differences at b[{failure.element[0]}]" in text
    assert "found by group testing over b's 3 elements" in text
    html = result._repr_html_()
    for part in ("affine db", f"[{failure.element[0]}]", "finite differences"):
        assert part in html
    with pytest.raises(gradproof.CheckFailed, match=r"affine db: backward differs"):
        result.raise_for_failure()
    with pytest.raises(AssertionError, match=r"affine db"):
        gradproof.assert_check(affine_forward, mean_bias_backward, x=X, w=W, b=B)


def test_mutations_of_an_input_or_of_dout_are_caught():
    def scaling_forward(x, w, b):
        out, cache = affine_forward(x, w, b)
        x *= 2.0
        return out, cache

    def dout_zeroing_backward(dout, cache):
        grads = affine_backward(dout, cache)
        dout[...] = 0.0
        return grads

    result = gradproof.check(scaling_forward, affine_backward, x=X.copy(), w=W, b=B)
    assert [f.check for f in result.failures] == ["contracts"]
    assert "scaling forward: mutated its input x" in str(result)
    result = gradproof.check(affine_forward, dout_zeroing_backward, x=X, w=W, b=B)
    assert "affine backward: mutated its upstream gradient dout" in str(result)


def test_a_raising_or_silent_backward_is_a_failed_check_not_a_crash():
    def raising(dout, cache):
        raise ValueError("shapes do not align")

    result = gradproof.check(affine_forward, raising, x=X, w=W, b=B)
    assert not result
    assert all("raised ValueError: shapes do not align" in f.message for f in result.failures)
    result = gradproof.check(affine_forward, lambda dout, cache: None, x=X, w=W, b=B)
    assert "returned NoneType, expected 3 gradients (dx, dw, db)" in str(result)

    def nan_backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        return dx, dw, np.full_like(db, np.nan)

    result = gradproof.check(affine_forward, nan_backward, x=X, w=W, b=B)
    assert [f.check for f in result.failures] == ["contracts", "gradients"]
    assert "affine db: backward is not finite: 3 of 3 elements are NaN or inf" in str(result)

    def log_forward(x):
        with np.errstate(invalid="ignore"):
            return np.log(x), x

    def log_backward(dout, x):
        return dout / x

    # The step (1e-6 along a unit direction) reaches below 1e-9, where log is NaN: said, not passed.
    result = gradproof.check(log_forward, log_backward, x=np.array([1.0, 1e-9]))
    assert [f.check for f in result.failures] == ["gradients"]
    assert "log forward: not finite at a point 1e-06 or less from the inputs" in str(result)

    def bare_assert(dout, cache):
        raise AssertionError

    assert not gradproof.check(affine_forward, bare_assert, x=X, w=W, b=B)


def test_wrt_and_hyperparameters():
    out = gradproof.check(
        conv2d_forward,
        lambda dout, cache: conv2d_backward(dout, cache)[0],
        x=RNG.standard_normal((1, 2, 5, 5)),
        w=RNG.standard_normal((3, 2, 3, 3)),
        b=RNG.standard_normal(3),
        stride=2,
        padding=1,
        wrt="x",
    )
    assert out, str(out)
    with pytest.raises(ValueError, match=r"wrt names \['y'\], which are not among the inputs"):
        gradproof.check(affine_forward, affine_backward, x=X, w=W, b=B, wrt=("x", "y"))


class TorchTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class TorchTanhWrong(TorchTanh):
    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_tensors_and_autograd_functions(dtype):
    x = torch.linspace(-2, 2, 12, dtype=dtype).reshape(3, 4)
    assert gradproof.check(TorchTanh, x=x)
    wrong = gradproof.check(TorchTanhWrong, x=x)
    assert wrong.failures[0].quantity == "torch_tanh_wrong dx"

    def matmul_forward(a, b):
        return a @ b, (a, b)

    def matmul_backward(dout, cache):
        a, b = cache
        return dout @ b.T, a.T @ dout

    a = torch.randn(3, 4, dtype=dtype, generator=torch.Generator().manual_seed(0))
    b = torch.randn(4, 2, dtype=dtype, generator=torch.Generator().manual_seed(1))
    assert gradproof.check(matmul_forward, matmul_backward, a=a, b=b)


def test_a_float32_forward_is_said_and_judged_at_float32_tolerance():
    def float32_forward(x):
        return np.tanh(x.astype(np.float32)), x

    def float32_backward(dout, cache):
        return (dout * (1 - np.tanh(cache) ** 2)).astype(np.float32)

    result = gradproof.check(float32_forward, float32_backward, x=np.linspace(-2, 2, 8).astype(np.float32))
    assert result, str(result)
    assert any("forward returns float32 on float64 inputs" in note for note in result.notes)


def test_against_a_registered_op():
    assert gradproof.check(affine_forward, affine_backward, x=X, w=W, b=B, against="affine")

    def shifted_forward(x, w, b):
        out, cache = affine_forward(x, w, b)
        return out + 1e-3, cache

    result = gradproof.check(shifted_forward, affine_backward, x=X, w=W, b=B, against="affine")
    assert [f.check for f in result.failures] == ["against affine"]
    assert "shifted forward: forward differs from affine reference in 12 of 12 elements" in str(result)
    result = gradproof.check(affine_forward, affine_backward, a=X, w=W, b=B, against="affine")
    assert "against affine: its reference reference.linear.affine_forward takes (x, w, b), not ['a']" in str(
        result
    )


def test_check_op_runs_the_properties_in_process():
    assert gradproof.check_op("affine", forward=affine_forward, backward=affine_backward, examples=5)
    result = gradproof.check_op("affine", forward=affine_forward, backward=mean_bias_backward, examples=5)
    assert {f.check for f in result.failures} == {"gradients", "torch twin"}
    # Shrunk by Hypothesis to the smallest batch where a mean is not a sum.
    assert "example: x (2, 1), w (1, 1), b (1,)" in str(result)


def test_a_kink_inside_the_step_is_said_not_guessed():
    x = np.array([0.5, -1.0, 0.0, 2.0])
    result = gradproof.check(relu_forward, relu_backward, x=x)
    assert [f.check for f in result.failures] == ["gradients"]
    assert result.failures[0].kink
    assert "kink crossed at x[2], not a wrong gradient" in str(result)
    assert "kink crossed" in result._repr_html_()


def test_importing_gradproof_leaves_the_notebook_api_and_hypothesis_unloaded():
    code = "import sys, gradproof; print('gradproof.notebook' in sys.modules, 'hypothesis' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["False", "False"]


# ---- the joint check under gradproof.check --------------------------------------------------------


def identity_op(error: Callable | None = None) -> OpSpec:
    def backward(dout, cache):
        return dout + (error(dout) if error else 0.0)

    return OpSpec("identity", lambda x: (x.copy(), None), backward, None, None, ("x",))


FD = Tolerance(atol=1e-5, rtol=1e-3)


def planted(ratio: float, direction: np.ndarray):
    """An error of norm ``ratio`` times the typical allowed error, along a fixed ``direction``."""

    def error(dout):
        allowed = typical_allowed(FD, {"x": dout})
        return ratio * allowed * direction / np.linalg.norm(direction)

    return error


@pytest.mark.parametrize(("ratio", "directions"), [(2.0, 1), (2.0, 3), (10.0, 1), (10.0, 3)])
def test_the_miss_probability_is_as_stated(ratio, directions):
    n, trials = 400, 1000
    spec = identity_op(planted(ratio, np.random.default_rng(7).standard_normal(n)))
    example = Example({"x": np.random.default_rng(8).standard_normal(n)})
    misses = 0
    for seed in range(trials):
        try:
            check_gradients_joint(spec, example, seed=seed, directions=directions)
            misses += 1
        except AssertionError:
            pass
    expected = miss_probability(ratio, directions)
    # Seeds are fixed, so this never flakes; the band is five binomial standard deviations (at least
    # three misses), which a wrong formula (say erf(1/r) for one direction: 0.52 at r = 2, 0.11 at
    # r = 10, against 0.38 and 0.08) falls outside.
    band = 5 * math.sqrt(expected * (1 - expected) / trials) + 3 / trials
    assert abs(misses / trials - expected) <= band, (misses, expected)


def test_a_correct_gradient_never_fails_the_joint_check():
    spec = identity_op()
    example = Example({"x": np.random.default_rng(8).standard_normal(400)})
    for seed in range(200):
        check_gradients_joint(spec, example, seed=seed)


@pytest.mark.parametrize("size", [10_000, 1_000_000])
def test_a_wrong_element_is_found_in_logarithmically_many_forward_calls(size):
    # One wrong element, its error 100 times the allowed error along a direction (module docstring
    # of gradproof.core.joint): missed with probability 5e-7.
    wrong = 1234
    error = planted(100.0, np.eye(1, size, wrong).ravel())
    spec = identity_op(error)
    example = Example({"x": np.random.default_rng(0).standard_normal(size)})
    with pytest.raises(AssertionError) as failure:
        check_gradients_joint(spec, example, seed=0)
    details = failure.value.details
    assert details["index"] == (wrong,)
    splits = math.ceil(math.log2(size))
    # The unperturbed forward, 2 per direction tried (at most 3), 2 for the input, 4 per split, 2 at the
    # leaf: 66 at 10^4 elements, against 2 * 10^4 for an element-wise check.
    assert details["forward_calls"] <= 1 + 2 * 3 + 2 + 4 * splits + 2
    assert details["forward_calls"] * 100 <= 2 * size


def tanh_forward(x):
    return np.tanh(x), x


def tanh_backward(dout, x):
    return dout * (1 - np.tanh(x) ** 2)


def test_precise_mode_sees_one_part_in_a_million():
    def off_by_a_millionth(dout, x):
        noise = np.random.default_rng(1).standard_normal(x.shape)
        return tanh_backward(dout, x) * (1 + 1e-6 * noise)

    x = np.random.default_rng(2).uniform(-2, 2, (6, 7))
    assert gradproof.check(tanh_forward, tanh_backward, x=x, precise=True)
    assert gradproof.check(tanh_forward, off_by_a_millionth, x=x)  # within the default rtol 1e-3
    precise = gradproof.check(tanh_forward, off_by_a_millionth, x=x, precise=True)
    assert [f.check for f in precise.failures] == ["gradients (precise)"]
    assert "backward differs from Richardson extrapolation" in str(precise)


def test_precise_mode_on_float32_inputs_says_it_used_the_default_tolerance():
    result = gradproof.check(
        tanh_forward, tanh_backward, x=np.linspace(-2, 2, 8).astype(np.float32), precise=True
    )
    assert result, str(result)
    assert "precise mode needs float64 inputs, not float32: judged at the default tolerance" in result.notes


# ---- the README's one-liners work as shown -------------------------------------------------------

README = Path(__file__).parent.parent / "README.md"


def readme_one_liners() -> list[tuple[str, str]]:
    """(command, the first line of output shown for it) in the README's "Check a layer in a notebook"."""
    section = README.read_text().split("## Check a layer in a notebook", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    pairs = []
    for (kind, body), (_, shown) in itertools.pairwise(blocks):
        if kind != "bash":
            continue
        commands = [line for line in body.splitlines() if line.startswith('python -c "')]
        headlines = [line for line in shown.splitlines() if line and not line.startswith(" ")]
        assert len(commands) == len(headlines), (commands, headlines)
        pairs.extend(zip(commands, headlines, strict=True))
    return pairs


def test_the_readme_one_liners_print_what_it_shows():
    pairs = readme_one_liners()
    assert len(pairs) == 4
    for command, headline in pairs:
        code = shlex.split(command)[2]
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines()[0] == headline, ran.stdout
