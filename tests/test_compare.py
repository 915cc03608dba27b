import numpy as np
import pytest

from gradproof.core.compare import (
    TOLERANCES,
    Tolerance,
    ToleranceOverride,
    assert_close,
    assert_finite,
    tolerance_for,
)

TIGHT = Tolerance(atol=1e-10, rtol=1e-7)


def test_table_defaults():
    assert tolerance_for("fd", np.float64) == Tolerance(1e-5, 1e-3)
    assert tolerance_for("oracle", "float64") == TOLERANCES[("oracle", np.dtype("float64"))]


def test_override_applies_only_to_its_check_and_dtype():
    override = ToleranceOverride("fd", "float64", atol=1e-4, rtol=1e-2, reason="cancellation in the variance")
    assert tolerance_for("fd", np.float64, [override]) == Tolerance(1e-4, 1e-2)
    assert tolerance_for("oracle", np.float64, [override]) == TOLERANCES[("oracle", np.dtype("float64"))]
    assert tolerance_for("fd", np.float32, [override]) == TOLERANCES[("fd", np.dtype("float32"))]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"check": "fd", "dtype": "float64", "atol": 1, "rtol": 1, "reason": " "}, "needs a reason"),
        ({"check": "fuzzy", "dtype": "float64", "atol": 1, "rtol": 1, "reason": "x"}, "check must be one of"),
        ({"check": "fd", "dtype": "float64", "atol": -1, "rtol": 1, "reason": "x"}, ">= 0"),
    ],
)
def test_override_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ToleranceOverride(**kwargs)


def test_unknown_dtype_names_the_table():
    with pytest.raises(ValueError, match="no 'fd' tolerance for dtype int64"):
        tolerance_for("fd", np.int64)


def test_close_values_pass():
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), tol=TIGHT, quantity="demo")


def test_message_names_worst_element_and_counts():
    expected = np.zeros((2, 3))
    got = expected.copy()
    got[0, 1] = 1e-3
    got[1, 2] = 0.5
    with pytest.raises(AssertionError) as failure:
        assert_close(
            got,
            expected,
            tol=TIGHT,
            quantity="conv2d dw",
            context="  example: x (1, 2)",
            got_label="backward",
            expected_label="finite differences",
        )
    message = str(failure.value)
    assert message.startswith("conv2d dw: backward differs from finite differences in 2 of 6 elements")
    assert "worst element [1, 2]: finite differences 0, backward 0.5" in message
    assert "abs err 0.5, rel err inf" in message
    assert message.endswith("example: x (1, 2)")


def test_worst_element_is_relative_to_the_tolerance():
    # [0] is off by more in absolute terms, [1] by far more relative to what is allowed there.
    expected = np.array([1000.0, 0.0])
    got = np.array([1000.5, 1e-3])
    with pytest.raises(AssertionError, match=r"worst element \[1\]"):
        assert_close(got, expected, tol=Tolerance(1e-5, 1e-3), quantity="q")


def test_shape_mismatch():
    with pytest.raises(AssertionError, match=r"affine dw: got has shape \(4, 3\), expected shape \(3, 4\)"):
        assert_close(np.zeros((4, 3)), np.zeros((3, 4)), tol=TIGHT, quantity="affine dw")


@pytest.mark.parametrize(
    ("value", "match"),
    [(None, "returned None instead of a NumPy array"), ([1.0], "returned list instead of a NumPy array")],
)
def test_not_an_array(value, match):
    with pytest.raises(AssertionError, match=match):
        assert_close(value, np.zeros(1), tol=TIGHT, quantity="relu dx")


def test_non_finite_is_named():
    with pytest.raises(
        AssertionError, match=r"relu dx: got is not finite: 1 of 3 elements .* first at \[2\] \(nan\)"
    ):
        assert_close(np.array([0.0, 1.0, np.nan]), np.zeros(3), tol=TIGHT, quantity="relu dx")
    with pytest.raises(AssertionError, match=r"loss: got is not finite.*\(scalar\) \(inf\)"):
        assert_finite(np.float64(np.inf), quantity="loss")


def test_scale_for_cancelling_sums():
    # 1e8 - (1e8 - 1e-3) cancels to 1e-3, carrying the rounding error of the 1e8-sized terms.
    terms = np.array([1e8, -(1e8 - 1e-3)])
    expected = np.array([terms.sum()])
    got = expected + 3e-9
    with pytest.raises(AssertionError):
        assert_close(got, expected, tol=TIGHT, quantity="q")
    assert_close(got, expected, tol=TIGHT, quantity="q", scale=np.abs(terms).sum())


def test_zero_tolerance_demands_an_exact_match():
    exact = Tolerance(atol=0.0, rtol=0.0)
    assert_close(np.array([0.0, 1.0]), np.array([0.0, 1.0]), tol=exact, quantity="q")
    with pytest.raises(AssertionError, match=r"worst element \[0\]"):
        assert_close(np.array([1e-300, 1.0]), np.array([0.0, 1.0]), tol=exact, quantity="q")
