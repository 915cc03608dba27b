r"""The networks a CNN course builds, assembled from the reference ops and registered as ops, so that
every property (finite differences, the PyTorch twin, linearity, contracts) checks the whole
network's input and parameter gradients.

Their kinks are inside: a ReLU's input, a tie in a max-pool window. No strategy over the network's
inputs can keep those away by construction, and Hypothesis favours exactly the values that sit on
them (all zeros). So Hypothesis draws the shapes, the hyperparameters and a seed, and the values
come from ``np.random.default_rng(seed)``: weights at scale :math:`1/\sqrt{\text{fan-in}}`, so that
activations are of order one. A draw with an activation within :data:`MARGIN` of a kink is redrawn
from the same generator, which is deterministic and rare (1.11 draws per LeNet example, fewer for
the others, measured over 200 examples).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from gradproof.core import kinks
from gradproof.core.registry import Example, op
from reference.activations import relu_backward, relu_forward
from reference.conv import conv2d_backward, conv2d_forward
from reference.dropout import dropout_backward, dropout_forward, dropout_mask
from reference.linear import affine_backward, affine_forward
from reference.losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from reference.network import (
    Layer,
    Parallel,
    Residual,
    Sequential,
    distance_to_zero,
    half_top_two_gap_after_relu,
)
from reference.norm import batch_norm_backward, batch_norm_forward
from reference.pooling import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    flatten_backward,
    flatten_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

MARGIN = 1e-3
"""No activation of a drawn network lies closer than this to a kink."""

AMPLIFICATION = 100.0
r"""An assumed bound on how much a network moves its activations when one input moves: at
:math:`1/\sqrt{\text{fan-in}}` scale, a layer multiplies a perturbation by about the l1 norm of a
filter, 1 to 5 here, and these networks have two or three such layers. The gradient check takes
``MARGIN / AMPLIFICATION`` (1e-5, ten times its step) as the distance to the nearest kink."""

RELU = Layer(relu_forward, relu_backward, kink=distance_to_zero)
FLATTEN = Layer(flatten_forward, flatten_backward)


def conv(w, b, **hparams):
    return Layer(conv2d_forward, conv2d_backward, params=(w, b), hparams=hparams)


def affine(w, b):
    return Layer(affine_forward, affine_backward, params=(w, b))


def max_pool(**hparams):
    """A max pool fed by a ReLU (as in every network here)."""
    return Layer(max_pool2d_forward, max_pool2d_backward, hparams=hparams, kink=half_top_two_gap_after_relu)


def spec_of(name, build, shapes, twin, geometry, *, params, buffers=(), classes=None):
    """Register network ``name``: ``build(**hparams)`` gives its nodes, ``shapes(**hparams)`` the shape
    and fan-in of ``x`` and of every name in ``params`` and ``buffers``, ``geometry`` a strategy of
    hyperparameters. With ``classes`` (an hparam name), a softmax cross-entropy over integer labels
    ``y`` closes the network and the output is the loss."""
    order = ("x", *(("y",) if classes else ()), *params, *buffers)

    def forward(*arrays, **hparams):
        values = dict(zip(order, arrays, strict=True))
        out, cache = build(**hparams).run(values["x"], values)
        if not classes:
            return out, (hparams, cache, None)
        loss, loss_cache = softmax_cross_entropy_forward(out, values["y"])
        return loss, (hparams, cache, loss_cache)

    def backward(dout, cache):
        hparams, net_cache, loss_cache = cache
        if loss_cache is not None:
            dout = softmax_cross_entropy_backward(dout, loss_cache)
        dx, grads = build(**hparams).grad(dout, net_cache)
        return (dx, *(grads[name] for name in params))

    @st.composite
    def examples(draw):
        hparams = draw(geometry)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        net = build(**hparams)
        for _ in range(100):  # each draw passes with probability about 2/3
            inputs = _draw_values(rng, shapes(**hparams), buffers)
            if classes:
                n = inputs["x"].shape[0]
                inputs = {"x": inputs["x"], "y": rng.integers(0, hparams[classes], size=n), **inputs}
            kinks = []
            net.run(inputs["x"], inputs, kinks)
            if min(kinks, default=np.inf) >= MARGIN:
                return Example(inputs={name: inputs[name] for name in order}, hparams=hparams)
        raise RuntimeError(f"{name}: no draw of 100 kept its activations {MARGIN} from every kink")

    def kink_distance(example: Example) -> float:
        kinks = []
        build(**example.hparams).run(example.inputs["x"], example.inputs, kinks)
        return min(kinks, default=np.inf) / AMPLIFICATION

    op(
        name,
        forward=forward,
        backward=backward,
        examples=examples(),
        differentiable=("x", *params),
        kinks=kinks.Kinks(
            where="a ReLU input at 0, or a tie for a max-pool window's maximum, inside the network",
            distance=kink_distance,
            not_pinned=(
                "a kink inside a network sits at no fixed value of its inputs: putting an activation "
                "exactly on it would hang on the rounding of every sum before it; the at-kink examples "
                "of relu and max_pool2d pin the layers the networks are built of"
            ),
        ),
    )(twin)


def _draw_values(rng, shapes, buffers):
    values = {}
    for name, (shape, fan_in) in shapes.items():
        if name == "running_var":
            values[name] = rng.uniform(0.5, 2.0, size=shape)
        elif name == "gamma":
            values[name] = rng.uniform(0.5, 1.5, size=shape)
        else:
            values[name] = rng.standard_normal(shape) / math.sqrt(fan_in)
    return values


def batch_sizes():
    return st.integers(1, 3)  # batch 1 included


# 1. Two-layer MLP: affine -> relu -> affine -> softmax cross-entropy.


def mlp(**_):
    return Sequential((affine("w1", "b1"), RELU, affine("w2", "b2")))


def mlp_shapes(*, n, features, hidden, classes):
    return {
        "x": ((n, *features), 1),
        "w1": ((math.prod(features), hidden), math.prod(features)),
        "b1": ((hidden,), 1),
        "w2": ((hidden, classes), hidden),
        "b2": ((classes,), 1),
    }


def mlp_twin(x, y, w1, b1, w2, b2, **_):
    import torch.nn.functional as F

    hidden = F.relu(F.linear(x.flatten(1), w1.T, b1))
    return F.cross_entropy(F.linear(hidden, w2.T, b2), y)


MLP_GEOMETRY = st.fixed_dictionaries(
    {
        "n": batch_sizes(),
        "features": st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
        "hidden": st.integers(1, 6),
        "classes": st.integers(2, 4),
    }
)


# 2. LeNet-style CNN: conv -> relu -> max pool -> conv -> relu -> max pool -> flatten -> affine -> loss.


def lenet(*, stride, **_):
    return Sequential(
        (
            conv("w1", "b1", stride=stride, padding=1),
            RELU,
            max_pool(kernel_size=2),
            conv("w2", "b2", padding=1),
            RELU,
            max_pool(kernel_size=2),
            FLATTEN,
            affine("w3", "b3"),
        )
    )


def lenet_sides(h, stride):
    """Side after conv (3x3, pad 1, stride), pool, conv (3x3, pad 1), pool."""
    return ((h - 1) // stride + 1) // 2 // 2


def lenet_shapes(*, n, c, height, width, c1, c2, stride, classes):
    flat = c2 * lenet_sides(height, stride) * lenet_sides(width, stride)
    return {
        "x": ((n, c, height, width), 1),
        "w1": ((c1, c, 3, 3), c * 9),
        "b1": ((c1,), 1),
        "w2": ((c2, c1, 3, 3), c1 * 9),
        "b2": ((c2,), 1),
        "w3": ((flat, classes), flat),
        "b3": ((classes,), 1),
    }


def lenet_twin(x, y, w1, b1, w2, b2, w3, b3, *, stride, **_):
    import torch.nn.functional as F

    out = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, stride=stride, padding=1)), 2)
    out = F.max_pool2d(F.relu(F.conv2d(out, w2, b2, padding=1)), 2)
    return F.cross_entropy(F.linear(out.flatten(1), w3.T, b3), y)


@st.composite
def lenet_geometry(draw):
    stride = draw(st.sampled_from([1, 2]))
    smallest = 4 * stride - (stride - 1)  # one output pixel after both pools: 4 at stride 1, 7 at 2
    return {
        "n": draw(batch_sizes()),
        "c": draw(st.integers(1, 2)),
        "height": draw(st.integers(smallest, smallest + 3)),  # odd sides included
        "width": draw(st.integers(smallest, smallest + 3)),
        "c1": draw(st.integers(1, 3)),
        "c2": draw(st.integers(1, 3)),
        "stride": stride,
        "classes": draw(st.integers(2, 4)),
    }


# 3. Residual block: relu(x + conv(relu(conv(x)))), padding keeping the size.


def residual_block(*, kernel, **_):
    pad = kernel // 2
    body = Sequential((conv("w1", "b1", padding=pad), RELU, conv("w2", "b2", padding=pad)))
    return Sequential((Residual(body), RELU))


def residual_shapes(*, n, c, height, width, kernel):
    return {
        "x": ((n, c, height, width), 1),
        "w1": ((c, c, kernel, kernel), c * kernel**2),
        "b1": ((c,), 1),
        "w2": ((c, c, kernel, kernel), c * kernel**2),
        "b2": ((c,), 1),
    }


def residual_twin(x, w1, b1, w2, b2, *, kernel, **_):
    import torch.nn.functional as F

    pad = kernel // 2
    return F.relu(x + F.conv2d(F.relu(F.conv2d(x, w1, b1, padding=pad)), w2, b2, padding=pad))


RESIDUAL_GEOMETRY = st.fixed_dictionaries(
    {
        "n": batch_sizes(),
        "c": st.integers(1, 3),
        "height": st.integers(1, 5),
        "width": st.integers(1, 5),
        "kernel": st.sampled_from([1, 3, 5]),
    }
)


# 4. Inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 avg pool -> 1x1, each conv followed by a
# relu, concatenated on channels.


def inception(**_):
    return Parallel(
        (
            Sequential((conv("w1", "b1"), RELU)),
            Sequential((conv("w2a", "b2a"), RELU, conv("w2b", "b2b", padding=1), RELU)),
            Sequential((conv("w3a", "b3a"), RELU, conv("w3b", "b3b", padding=2), RELU)),
            Sequential(
                (
                    Layer(
                        avg_pool2d_forward,
                        avg_pool2d_backward,
                        hparams={"kernel_size": 3, "stride": 1, "padding": 1},
                    ),
                    conv("w4", "b4"),
                    RELU,
                )
            ),
        )
    )


def inception_shapes(*, n, c, height, width, out1, reduce2, out2, reduce3, out3, out4):
    def conv_shapes(name, out, inp, k):
        return {f"w{name}": ((out, inp, k, k), inp * k * k), f"b{name}": ((out,), 1)}

    return {
        "x": ((n, c, height, width), 1),
        **conv_shapes("1", out1, c, 1),
        **conv_shapes("2a", reduce2, c, 1),
        **conv_shapes("2b", out2, reduce2, 3),
        **conv_shapes("3a", reduce3, c, 1),
        **conv_shapes("3b", out3, reduce3, 5),
        **conv_shapes("4", out4, c, 1),
    }


def inception_twin(x, w1, b1, w2a, b2a, w2b, b2b, w3a, b3a, w3b, b3b, w4, b4, **_):
    import torch
    import torch.nn.functional as F

    branches = [
        F.relu(F.conv2d(x, w1, b1)),
        F.relu(F.conv2d(F.relu(F.conv2d(x, w2a, b2a)), w2b, b2b, padding=1)),
        F.relu(F.conv2d(F.relu(F.conv2d(x, w3a, b3a)), w3b, b3b, padding=2)),
        F.relu(F.conv2d(F.avg_pool2d(x, 3, stride=1, padding=1), w4, b4)),
    ]
    return torch.cat(branches, dim=1)


INCEPTION_GEOMETRY = st.fixed_dictionaries(
    {
        "n": batch_sizes(),
        "c": st.integers(1, 3),
        "height": st.integers(1, 4),
        "width": st.integers(1, 4),
        **{name: st.integers(1, 2) for name in ("out1", "reduce2", "out2", "reduce3", "out3", "out4")},
    }
)


# 5. conv -> batch norm -> relu -> dropout, in train mode.


def conv_bn_relu_dropout(*, stride, momentum, eps, p, seed, **_):
    return Sequential(
        (
            conv("w", "b", stride=stride, padding=1),
            Layer(
                batch_norm_forward,
                batch_norm_backward,
                params=("gamma", "beta"),
                buffers=("running_mean", "running_var"),
                hparams={"training": True, "momentum": momentum, "eps": eps},
            ),
            RELU,
            Layer(dropout_forward, dropout_backward, hparams={"p": p, "training": True, "seed": seed}),
        )
    )


def conv_bn_shapes(*, n, c, height, width, f, **_):
    return {
        "x": ((n, c, height, width), 1),
        "w": ((f, c, 3, 3), c * 9),
        "b": ((f,), 1),
        "gamma": ((f,), 1),
        "beta": ((f,), 1),
        "running_mean": ((f,), 1),
        "running_var": ((f,), 1),
    }


def conv_bn_twin(x, w, b, gamma, beta, running_mean, running_var, *, stride, momentum, eps, p, seed, **_):
    import torch
    import torch.nn.functional as F

    out = F.conv2d(x, w, b, stride=stride, padding=1)
    out = F.relu(
        F.batch_norm(out, running_mean, running_var, gamma, beta, training=True, momentum=momentum, eps=eps)
    )
    # The reference's own mask: torch's draw cannot be reproduced (see reference.dropout).
    return out * torch.from_numpy(dropout_mask(tuple(out.shape), p, seed)) / (1 - p)


@st.composite
def conv_bn_geometry(draw):
    stride = draw(st.sampled_from([1, 2]))
    return {
        "n": draw(batch_sizes()),
        "c": draw(st.integers(1, 2)),
        "height": draw(st.integers(1, 4)),
        # At least two output columns: batch norm in train mode needs two values per channel, even
        # for a batch of one.
        "width": draw(st.integers(2 * stride, 2 * stride + 3)),
        "f": draw(st.integers(1, 3)),
        "stride": stride,
        "momentum": draw(st.sampled_from([0.1, 0.5])),
        "eps": draw(st.sampled_from([1e-5, 1e-3])),
        "p": draw(st.sampled_from([0.0, 0.5])),
        "seed": draw(st.integers(0, 2**16)),
    }


spec_of(
    "net_mlp", mlp, mlp_shapes, mlp_twin, MLP_GEOMETRY, params=("w1", "b1", "w2", "b2"), classes="classes"
)
spec_of(
    "net_lenet",
    lenet,
    lenet_shapes,
    lenet_twin,
    lenet_geometry(),
    params=("w1", "b1", "w2", "b2", "w3", "b3"),
    classes="classes",
)
spec_of(
    "net_residual_block",
    residual_block,
    residual_shapes,
    residual_twin,
    RESIDUAL_GEOMETRY,
    params=("w1", "b1", "w2", "b2"),
)
spec_of(
    "net_inception",
    inception,
    inception_shapes,
    inception_twin,
    INCEPTION_GEOMETRY,
    params=("w1", "b1", "w2a", "b2a", "w2b", "b2b", "w3a", "b3a", "w3b", "b3b", "w4", "b4"),
)
spec_of(
    "net_conv_bn_relu_dropout",
    conv_bn_relu_dropout,
    conv_bn_shapes,
    conv_bn_twin,
    conv_bn_geometry(),
    params=("w", "b", "gamma", "beta"),
    buffers=("running_mean", "running_var"),
)
