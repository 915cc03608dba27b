"""The shape of an error (:mod:`gradproof.core.residual`): each shape is stated when it holds exactly
on every case, and nothing is said of a right result or of a random error."""

from __future__ import annotations

import numpy as np
import pytest

from gradproof.core.compare import tolerance_for
from gradproof.core.residual import Case, Windows, describe

TOL = tolerance_for("oracle", np.float64)


def normal(seed: int, *shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def cases(wrong, shape=(4, 3), sizes=None, windows=None, count=4) -> list[Case]:
    """``count`` cases of ``shape``, the candidate's result ``wrong(expected, seed)``."""
    found = []
    for seed in range(count):
        expected = normal(seed, *shape)
        named = sizes if sizes is not None else ({"N": shape[0]} if shape else {})
        found.append(Case(wrong(expected, seed), expected, named, windows))
    return found


def noise(expected, seed):
    return expected + 1e-3 * normal(100 + seed, *expected.shape)


def test_a_right_result_and_random_errors_get_nothing():
    assert describe("dx", cases(lambda e, s: e.copy()), TOL) is None
    assert describe("dx", cases(noise), TOL) is None
    assert describe("dx", cases(noise, windows=Windows((0,), (2,), (1,), (1,))), TOL) is None
    # A scalar is some multiple of the right one on each case, but no factor holds on all of them.
    assert describe("loss", cases(lambda e, s: e * (1.5 + s), shape=()), TOL) is None


def test_a_factor_is_named_by_the_sizes_it_equals():
    assert describe("dx", cases(lambda e, s: e / 4), TOL) == (
        "dx is 0.25 times the reference on every element (0.25 = 1/N, with N = 4)"
    )
    assert describe("loss", cases(lambda e, s: e * 4, shape=(), sizes={"N": 4}), TOL) == (
        "loss is 4 times the reference on every element (4 = N, with N = 4)"
    )
    # A factor with no name is said as a number, on arrays (not on a scalar: see above).
    assert (
        describe("dx", cases(lambda e, s: e * 0.37), TOL) == "dx is 0.37 times the reference on every element"
    )


def test_a_flipped_sign():
    assert describe("dw", cases(lambda e, s: -e), TOL) == (
        "dw is the reference with the sign flipped (-1 times it, on every element)"
    )


def test_a_transpose_of_another_shape():
    assert (
        describe("dw", cases(lambda e, s: e.T), TOL) == "dw is the transpose of the reference (shape (4, 3))"
    )


def test_a_term_constant_along_an_axis():
    # Each row off by its own constant: a mean over axis 1 subtracted where it should not be.
    found = describe("dx", cases(lambda e, s: e - e.mean(axis=1, keepdims=True) + 1.0), TOL)
    assert found is not None
    assert "constant along axis 1 of (4, 3)" in found
    assert "one constant on every element" in describe("dx", cases(lambda e, s: e + 0.5), TOL)


def test_wrong_only_where_windows_overlap():
    # Windows of 3 with stride 2 along an axis of 7: elements 2 and 4 are read twice.
    windows = Windows((1,), (3,), (2,), (0,))

    def overlap_wrong(expected, seed):
        got = expected.copy()
        got[:, [2, 4]] *= 0.5
        return got

    found = describe("dx", cases(overlap_wrong, shape=(2, 7), windows=windows), TOL)
    assert found is not None
    assert found.startswith("dx is right everywhere except on elements that more than one")


def test_wrong_only_at_the_padded_border():
    windows = Windows((1,), (3,), (1,), (1,))

    def border_wrong(expected, seed):
        got = expected.copy()
        got[:, [0, -1]] = 0.0
        return got

    found = describe("dx", cases(border_wrong, shape=(2, 6), windows=windows), TOL)
    assert found is not None
    assert "except within the padding's reach of the border" in found


def test_an_error_outside_the_region_is_not_blamed_on_it():
    windows = Windows((1,), (3,), (2,), (0,))

    def also_elsewhere(expected, seed):
        got = expected.copy()
        got[:, [2, 0]] *= 0.5
        return got

    assert describe("dx", cases(also_elsewhere, shape=(2, 7), windows=windows), TOL) is None


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_all_zeros_are_left_to_the_caller(shape):
    assert describe("dx", cases(lambda e, s: np.zeros_like(e), shape=shape), TOL) is None


def test_coverage_counts_each_windows_elements():
    windows = Windows((0, 1), (3, 2), (2, 2), (1, 0))
    # Along axis 0 (size 5, pad 1): padded starts 0, 2, 4 of 3 rows read rows -1..1, 1..3, 3..5.
    np.testing.assert_array_equal(windows.coverage((5, 4))[:, 0], [1, 2, 1, 2, 1])
    np.testing.assert_array_equal(windows.border((5, 4))[:, 1], [True, False, False, False, True])
