"""Metamorphic properties: relations between outputs that hold whatever the values, checked on the
forward passes alone."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import registry
from gradproof.core import strategies as gs
from gradproof.core.compare import assert_close
from reference.conv import conv2d_forward
from reference.linear import affine_forward
from reference.pooling import avg_pool2d_forward, max_pool2d_forward
from reference.softmax import softmax_forward

TOL = registry.get("conv2d").tolerance("oracle")
SCALARS = gs.floats(min_value=-2.0, max_value=2.0)


def without_bias(example):
    return {name: value for name, value in example.inputs.items() if name != "b"}


@pytest.mark.parametrize("argument", ["x", "w"])
@given(data=st.data(), a=SCALARS, b=SCALARS)
def test_conv2d_is_linear_in_x_and_in_w_separately(argument, data, a, b):
    example = data.draw(registry.get("conv2d").examples, label="conv2d example")
    inputs = without_bias(example)
    other = data.draw(gs.arrays(inputs[argument].shape), label=f"second {argument}")

    def conv(**replaced):
        return conv2d_forward(**{**inputs, **replaced}, **example.hparams)[0]

    one, two = conv(), conv(**{argument: other})
    mixed = conv(**{argument: a * inputs[argument] + b * other})
    assert_close(
        mixed,
        a * one + b * two,
        tol=TOL,
        quantity=f"conv2d(a*{argument}1 + b*{argument}2)",
        scale=np.abs(a * one) + np.abs(b * two) + 1.0,
        context=f"  example: {example.describe()}",
    )


@pytest.mark.parametrize("argument", ["x", "w"])
@given(data=st.data(), a=SCALARS, b=SCALARS)
def test_affine_is_linear_in_x_and_in_w_separately(argument, data, a, b):
    example = data.draw(registry.get("affine").examples, label="affine example")
    inputs = {**example.inputs, "b": np.zeros_like(example.inputs["b"])}
    other = data.draw(gs.arrays(inputs[argument].shape), label=f"second {argument}")

    def affine(**replaced):
        return affine_forward(**{**inputs, **replaced})[0]

    one, two = affine(), affine(**{argument: other})
    mixed = affine(**{argument: a * inputs[argument] + b * other})
    assert_close(
        mixed,
        a * one + b * two,
        tol=TOL,
        quantity=f"affine(a*{argument}1 + b*{argument}2)",
        scale=np.abs(a * one) + np.abs(b * two) + 1.0,
    )


@given(data=st.data())
def test_conv2d_with_a_1x1_kernel_is_an_affine_map_over_channels(data):
    n, c, f = (data.draw(st.integers(1, 3)) for _ in range(3))
    h, w = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    x = data.draw(gs.arrays((n, c, h, w)), label="x")
    kernel = data.draw(gs.arrays((f, c, 1, 1)), label="w")
    bias = data.draw(gs.arrays((f,)), label="b")
    out, _ = conv2d_forward(x, kernel, bias)
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, c)  # one row per pixel: channels as features
    expected, _ = affine_forward(pixels, kernel[:, :, 0, 0].T, bias)
    assert_close(
        out,
        expected.reshape(n, h, w, f).transpose(0, 3, 1, 2),
        tol=TOL,
        quantity="conv2d with a 1x1 kernel",
        expected_label="affine over channels",
    )


@given(data=st.data(), down=st.integers(0, 2), right=st.integers(0, 2))
def test_conv2d_commutes_with_translation_away_from_borders(data, down, right):
    # Stride 1 and no padding: moving the image moves the output by the same amount, except for
    # the rows and columns whose windows reach the zeros shifted in.
    n, c, f = (data.draw(st.integers(1, 2)) for _ in range(3))
    kh, kw, dilation = (
        data.draw(st.integers(1, 3)),
        data.draw(st.integers(1, 3)),
        data.draw(st.integers(1, 2)),
    )
    h = dilation * (kh - 1) + 1 + down + data.draw(st.integers(0, 3))
    w = dilation * (kw - 1) + 1 + right + data.draw(st.integers(0, 3))
    x = data.draw(gs.arrays((n, c, h, w)), label="x")
    kernel = data.draw(gs.arrays((f, c, kh, kw)), label="w")
    moved = np.zeros_like(x)
    moved[:, :, down:, right:] = x[:, :, : h - down, : w - right]
    out, _ = conv2d_forward(x, kernel, dilation=dilation)
    out_moved, _ = conv2d_forward(moved, kernel, dilation=dilation)
    ho, wo = out.shape[2:]
    assert_close(
        out_moved[:, :, down:, right:],
        out[:, :, : ho - down, : wo - right],
        tol=TOL,
        quantity=f"conv2d of the image moved by ({down}, {right})",
        expected_label="moved output",
    )


@pytest.mark.parametrize("pool", [max_pool2d_forward, avg_pool2d_forward], ids=["max_pool2d", "avg_pool2d"])
@given(data=st.data())
def test_pooling_acts_on_each_channel_alone(pool, data):
    example = data.draw(registry.get("avg_pool2d").examples, label="pool example")
    x = example.inputs["x"]
    out, _ = pool(x, **example.hparams)
    order = np.asarray(data.draw(st.permutations(range(x.shape[1])), label="channel order"))
    permuted, _ = pool(x[:, order], **example.hparams)
    np.testing.assert_array_equal(permuted, out[:, order])
    for channel in range(x.shape[1]):
        alone, _ = pool(x[:, channel : channel + 1], **example.hparams)
        np.testing.assert_array_equal(alone[:, 0], out[:, channel])


@given(example=registry.get("softmax").examples)
def test_softmax_sums_to_one_along_its_axis(example):
    out, _ = softmax_forward(*example.inputs.values(), **example.hparams)
    total = out.sum(axis=example.hparams["axis"])
    assert_close(total, np.ones_like(total), tol=TOL, quantity="softmax summed along its axis")
    assert np.all(out >= 0)
