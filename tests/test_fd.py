import dataclasses

import numpy as np
import pytest

from gradproof.core import registry
from gradproof.core.checks import FULL_CHECK_MAX_SIZE, KinkCrossed, check_gradients
from gradproof.core.compare import Tolerance
from gradproof.core.fd import directional_slopes, elementwise_slopes, random_direction, scalarize
from gradproof.core.registry import Example
from reference.activations import relu_backward, relu_forward

FD_TOL = Tolerance(1e-5, 1e-3)


def cube_forward(x):
    return x**3, x


def test_elementwise_slopes_are_the_gradient():
    x = np.array([[0.5, -1.0], [2.0, 0.1]])
    v = np.array([[1.0, 2.0], [-1.0, 0.5]])
    g = scalarize(cube_forward, {"x": x}, {}, v)
    slopes = elementwise_slopes(g, {"x": x}, "x", g({}))
    # Central differences with step 1e-6 carry a rounding error of about 1e-16 * |g| / 1e-6.
    np.testing.assert_allclose(slopes.central, 3 * x**2 * v, rtol=1e-7, atol=1e-8)
    assert not slopes.kinked(FD_TOL).any()


def test_directional_slope_is_the_projected_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    v = rng.standard_normal((3, 4))
    u = random_direction(rng, x.shape)
    assert np.linalg.norm(u) == pytest.approx(1.0)
    g = scalarize(cube_forward, {"x": x}, {}, v)
    slopes = directional_slopes(g, {"x": x}, "x", u, g({}))
    assert float(slopes.central) == pytest.approx(np.sum(3 * x**2 * v * u), rel=1e-8)


def test_differences_are_taken_in_float64():
    seen = []

    def forward(x):
        seen.append(x.dtype)
        return x * 1.0, None

    x32 = np.array([0.1, 0.2], dtype=np.float32)
    g = scalarize(forward, {"x": x32}, {}, np.ones(2))
    g({})
    g({"x": x32 + np.float32(1e-6)})
    assert seen == [np.float64, np.float64]


def test_kink_is_flagged_only_where_the_step_crosses_it():
    # |x| at 1e-7 (crossed by a step of 1e-6) and at 0.5 (smooth there).
    x = np.array([1e-7, 0.5])
    g = scalarize(lambda x: (np.abs(x), None), {"x": x}, {}, np.ones(2))
    slopes = elementwise_slopes(g, {"x": x}, "x", g({}))
    assert slopes.kinked(FD_TOL).tolist() == [True, False]


def relu_near_kink(x):
    """ReLU with no kink declared and an example sitting on the kink, as a careless spec might."""
    spec = dataclasses.replace(registry.get("relu"), kinks=None)
    return spec, Example(inputs={"x": x})


def test_kink_crossed_is_reported_as_such():
    spec, example = relu_near_kink(np.array([[0.7, 2e-7], [-1.0, 0.3]]))
    with pytest.raises(KinkCrossed) as failure:
        check_gradients(spec, example, seed=0)
    message = str(failure.value)
    assert "relu dx: kink crossed at x[0, 1], not a wrong gradient" in message
    assert "one-sided slopes" in message


def test_wrong_gradient_beside_a_kink_is_still_a_wrong_gradient():
    def backward(dout, cache):
        dx = relu_backward(dout, cache)
        dx[1, 1] += 1.0  # a real bug, at a smooth point
        return dx

    spec, example = relu_near_kink(np.array([[0.7, 2e-7], [-1.0, 0.3]]))
    with pytest.raises(
        AssertionError, match=r"(?s)relu dx: backward differs .* worst element \[1, 1\]"
    ) as failure:
        check_gradients(dataclasses.replace(spec, backward=backward), example, seed=0)
    assert not isinstance(failure.value, KinkCrossed)


def test_a_strategy_that_lands_on_a_kink_is_a_harness_error():
    example = Example(inputs={"x": np.array([0.5, 1e-9])})
    with pytest.raises(ValueError, match="relu: its examples strategy drew an example 1e-09 from a kink"):
        check_gradients(registry.get("relu"), example, seed=0)


def test_directional_check_costs_two_forward_calls_per_input_per_direction():
    calls = []

    def counting_forward(*args, **kwargs):
        calls.append(1)
        return registry.get("affine").forward(*args, **kwargs)

    spec = dataclasses.replace(registry.get("affine"), forward=counting_forward)
    rng = np.random.default_rng(1)
    big = Example(
        inputs={
            "x": rng.standard_normal((20, 50)),
            "w": rng.standard_normal((50, 30)),
            "b": rng.standard_normal(30),
        }
    )
    check_gradients(spec, big, seed=0, directions=3, full=False)
    assert len(calls) == 1 + 2 * 3 * 3  # the forward itself, then 2 per direction per input


def test_directional_failure_on_a_large_input_is_localised():
    def backward(dout, cache):
        dx, dw, db = registry.get("affine").backward(dout, cache)
        dw[17, 4] += 50.0
        return dx, dw, db

    rng = np.random.default_rng(2)
    big = Example(
        inputs={
            "x": rng.standard_normal((10, 40)),
            "w": rng.standard_normal((40, 8)),
            "b": rng.standard_normal(8),
        }
    )
    assert big.inputs["w"].size > FULL_CHECK_MAX_SIZE
    spec = dataclasses.replace(registry.get("affine"), backward=backward)
    with pytest.raises(
        AssertionError, match=r"(?s)affine dw: .* 1 of 320 elements .*worst element \[17, 4\]"
    ):
        check_gradients(spec, big, seed=0, full=False)


def test_correct_op_passes_the_full_check_on_a_larger_input():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 7))
    x[np.abs(x) < 1e-3] = 0.5
    check_gradients(registry.get("relu"), Example(inputs={"x": x}), seed=0, full=True)
    out, _ = relu_forward(x)
    assert out.shape == x.shape


def test_kink_on_an_input_too_large_to_localise_is_still_reported_as_a_kink(monkeypatch):
    import gradproof.core.checks as checks

    monkeypatch.setattr(checks, "LOCALISE_MAX_SIZE", 0)  # as if 10x10 were too large to localise
    x = np.full((10, 10), 0.5)
    x[7, 9] = 1e-9  # inside the step along any direction
    spec = dataclasses.replace(registry.get("relu"), kinks=None)
    with pytest.raises(KinkCrossed, match="relu dx: kink crossed along a random direction u"):
        check_gradients(spec, Example(inputs={"x": x}), seed=0, full=False)
