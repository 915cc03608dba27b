"""The cs231n API: Stanford CS231n assignment 2's ``layers.py`` and ``optim.py``.

Examples stay inside what the assignment's template promises: conv and pool sizes for which
``(H + 2 * pad - HH) % stride == 0`` (the template asserts it), distinct values under a max-pool
window (ties are a convention, not a gradient), batches of at least two for batch norm in train
mode. The oracle is :mod:`gradproof.grading.courses.cs231n_oracle`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradproof.core import registry
from gradproof.core import strategies as gs
from gradproof.core.checks import call_forward
from gradproof.core.registry import Example
from gradproof.grading.binding import (
    Api,
    Binding,
    Call,
    OptimizerBinding,
    PinnedTies,
    RandomDraw,
    Variant,
    expect_tuple,
    layer,
)
from gradproof.grading.courses import cs231n_oracle as oracle
from gradproof.grading.courses import ties

EPSILONS = (1e-5, 1e-3)


def _dims(draw, low=1, high=4):
    return draw(st.integers(low, high))


def _bn_example(draw, spatial: bool, mode: str) -> Example:
    c = _dims(draw, 1, 4)
    hw = (_dims(draw, 1, 3), _dims(draw, 1, 3)) if spatial else ()
    smallest = 2 if mode == "train" and not any(s > 1 for s in hw) else 1
    x = draw(gs.arrays((draw(st.integers(smallest, 4)), c, *hw)))
    return Example(
        {
            "x": x,
            "gamma": draw(gs.arrays((c,))),
            "beta": draw(gs.arrays((c,))),
            "running_mean": draw(gs.arrays((c,))),
            "running_var": draw(gs.arrays((c,), elements=gs.floats(min_value=0.1, max_value=4.0))),
        },
        {
            "mode": mode,
            "momentum": draw(gs.floats(min_value=0.0, max_value=1.0)),
            "eps": draw(st.sampled_from(EPSILONS)),
        },
    )


@st.composite
def batchnorm_examples(draw, spatial=False, mode="train"):
    """Batch-norm examples in ``mode``: the template promises a backward after a train-mode
    forward only (in test mode it leaves the cache None), so test mode is graded on the forward."""
    return _bn_example(draw, spatial, mode)


@st.composite
def layernorm_examples(draw):
    n, d = _dims(draw), _dims(draw, 2, 5)
    return Example(
        {"x": draw(gs.arrays((n, d))), "gamma": draw(gs.arrays((d,))), "beta": draw(gs.arrays((d,)))},
        {"eps": draw(st.sampled_from(EPSILONS))},
    )


def _gamma_shape(layout: str, c: int) -> tuple[int, ...]:
    return (c,) if layout == "(C,)" else (1, c, 1, 1)


@st.composite
def groupnorm_examples(draw, layout="(C,)"):
    """Group-norm examples with ``gamma`` and ``beta`` of the shape ``layout`` names: ``(C,)`` (the
    2018-20 templates) or ``(1, C, 1, 1)`` (2021 on)."""
    groups, per_group = _dims(draw, 1, 3), _dims(draw, 1, 3)
    c = groups * per_group
    hw = draw(st.sampled_from([(2, 2), (1, 3), (2, 3)] + ([(1, 1)] if per_group > 1 else [])))
    return Example(
        {
            "x": draw(gs.arrays((_dims(draw, 1, 3), c, *hw))),
            "gamma": draw(gs.arrays(_gamma_shape(layout, c))),
            "beta": draw(gs.arrays(_gamma_shape(layout, c))),
        },
        {"G": groups, "eps": draw(st.sampled_from(EPSILONS))},
    )


def _groupnorm_probe(layout: str) -> Example:
    """An example on which group norm written for the other ``gamma`` shape fails: with C = 4 and
    W = 2, a ``(C,)`` gamma multiplied as ``(1, C, 1, 1)`` (or the other way round) broadcasts
    against the wrong axis, or not at all."""
    rng = np.random.default_rng(0)
    return Example(
        {
            "x": rng.standard_normal((2, 4, 3, 2)),
            "gamma": rng.uniform(0.5, 2.0, _gamma_shape(layout, 4)),
            "beta": rng.standard_normal(_gamma_shape(layout, 4)),
        },
        {"G": 2, "eps": 1e-5},
    )


def _groupnorm(layout: str) -> Binding:
    binding = layer(
        "spatial_groupnorm",
        "spatial_groupnorm_forward",
        "spatial_groupnorm_backward",
        groupnorm_examples(layout),
        ("x", "gamma", "beta"),
        "group_norm",
        args=lambda a, h: (*a, h["G"], {"eps": h["eps"]}),
    )
    return dataclasses.replace(
        binding, variant=Variant(f"gamma and beta of shape {layout}", _groupnorm_probe(layout))
    )


def _variants(binding: Binding, year) -> tuple[Binding, ...]:
    """Group norm as ``year``'s template shapes ``gamma``, then as the other years' do."""
    if binding.op != "spatial_groupnorm":
        return (binding,)
    layouts = sorted(("(C,)", "(1, C, 1, 1)"), key=lambda layout: layout != year.groupnorm_gamma)
    return tuple(_groupnorm(layout) for layout in layouts)


@st.composite
def conv_examples(draw):
    n, c, f = _dims(draw, 1, 2), _dims(draw, 1, 3), _dims(draw, 1, 3)
    hh, ww = _dims(draw, 1, 3), _dims(draw, 1, 3)
    stride, pad = _dims(draw, 1, 2), draw(st.integers(0, 2))

    # Sides with (H + 2 pad - HH) divisible by the stride, as the template asserts, and at least 1.
    def side(kernel):
        fewest = max(0, -(-(1 - kernel + 2 * pad) // stride))
        return kernel - 2 * pad + stride * draw(st.integers(fewest, fewest + 3))

    h, w = side(hh), side(ww)
    return Example(
        {
            "x": draw(gs.arrays((n, c, h, w))),
            "w": draw(gs.arrays((f, c, hh, ww))),
            "b": draw(gs.arrays((f,))),
        },
        {"stride": stride, "pad": pad},
    )


@st.composite
def max_pool_examples(draw, values="distinct"):
    """Max-pooling examples with ``values`` as :func:`ties.pool_values` draws them."""
    ph, pw, stride = _dims(draw, 1, 3), _dims(draw, 1, 3), _dims(draw, 1, 3)
    h, w = ph + stride * draw(st.integers(0, 2)), pw + stride * draw(st.integers(0, 2))
    shape = (_dims(draw, 1, 2), _dims(draw, 1, 3), h, w)
    x = draw(ties.pool_values(shape, values))
    return Example({"x": x}, {"pool_height": ph, "pool_width": pw, "stride": stride})


def _pool_nchw(example, dout, dx):
    h = example.hparams
    return example.inputs["x"], dout, dx, (h["pool_height"], h["pool_width"]), h["stride"]


def _pool_window(start, shape) -> str:
    (n, c, row, col), (kh, kw) = start, shape
    return f"x[{n}, {c}, {row}:{row + kh}, {col}:{col + kw}]"


@st.composite
def relu_examples(draw):
    """ReLU's examples with some inputs exactly at the kink, 0 (at least one): where the gradient is
    a convention, which the comparison with the oracle reports (the finite-difference checks keep
    to the reference's examples, away from it)."""
    x = draw(registry.get("relu").examples).inputs["x"].copy()
    if x.size:
        at_kink = draw(hnp.arrays(bool, x.shape))
        at_kink.flat[draw(st.integers(0, x.size - 1))] = True
        x[at_kink] = 0.0
    return Example({"x": x})


def _relu_at_kink(example: Example, dout: np.ndarray, got: dict) -> str | None:
    """The note for a relu backward that differs from ``dout * (x > 0)`` only at x == 0, by passing
    a share of dout there (``x >= 0`` passes all of it): any share in [0, 1] is a subgradient."""
    x, dx = example.inputs["x"], got.get("x")
    if not isinstance(dx, np.ndarray) or dx.shape != x.shape:
        return None
    kink = x == 0
    away = np.allclose(dx[~kink], (dout * (x > 0))[~kink], rtol=1e-7, atol=1e-10)
    shares = dx[kink] / np.where(dout[kink] != 0, dout[kink], np.nan)
    shares = shares[np.isfinite(shares)]
    if not away or not shares.size or not np.allclose(shares, shares[0]) or not 0 <= shares[0] <= 1:
        return None
    passed = "all of dout" if np.isclose(shares[0], 1) else f"{shares[0]:g} of dout"
    return (
        f"relu dx: differs only at x == 0, the kink, where the gradient is a convention, not a "
        f"derivative: your backward passes {passed} there (as `x >= 0` does); the template's `x > 0` "
        f"passes none. Away from 0 your backward is right. Here {int(kink.sum())} of {x.size} inputs are 0"
    )


@st.composite
def softmax_loss_examples(draw):
    n, c = _dims(draw, 1, 5), _dims(draw, 1, 6)
    return Example(
        {
            "x": draw(gs.arrays((n, c), elements=gs.floats(min_value=-10.0, max_value=10.0))),
            "y": draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1))),
        }
    )


DROPOUT_PS = (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9)


@st.composite
def dropout_examples(draw):
    # x away from zero: a unit is dropped exactly where the output is 0, which is how the grader
    # reads the candidate's own mask (no oracle reproduces its random draw).
    shape = draw(gs.shapes(min_dims=1, max_dims=3, max_side=5))
    return Example(
        {"x": draw(gs.arrays(shape, elements=gs.away_from((0.0,), margin=0.1)))},
        {
            "p": draw(st.sampled_from(DROPOUT_PS)),
            "mode": draw(st.sampled_from(["train", "test"])),
            "seed": draw(st.integers(0, 2**16)),
        },
    )


def _dropout_oracle_example(example: Example, out: np.ndarray) -> Example:
    """The oracle's example: the candidate's own mask, read from where its output is 0."""
    if example.hparams["mode"] != "train" or out.shape != example.inputs["x"].shape:
        return example
    return Example(dict(example.inputs), {**example.hparams, "mask": out != 0})


KEPT_FRACTION_SHAPE = (100, 200)
KEPT_FRACTION_FAILURE = 1e-9
"""A correct dropout fails the kept-fraction check with at most this probability (Hoeffding)."""


def _kept_fraction(sides, example: Example, context: str) -> None:
    """The fraction of units a train-mode forward keeps is the convention's keep probability.

    The output comparison cannot see it (the mask is the candidate's own draw), so 20,000 ones go
    through the candidate's forward with the example's ``p`` and seed. Hoeffding's bound puts the
    kept fraction of a correct dropout within ``sqrt(log(2 / delta) / (2 n))`` = 0.023 of its keep
    probability except with probability delta = 1e-9; the ``p`` drawn are far enough from 0.5 for
    the two years' conventions to be told apart by more than twice that.
    """
    hparams = example.hparams
    if hparams["mode"] != "train":
        return
    ones = np.ones(KEPT_FRACTION_SHAPE)
    out, _ = call_forward(sides.candidate, Example({"x": ones}, dict(hparams)), context)
    if out.shape != ones.shape:
        return  # the shape check of the forward comparison says it
    year = sides.convention
    keep = year.keep_probability(hparams["p"])
    kept = float(np.mean(out != 0))
    bound = float(np.sqrt(np.log(2 / KEPT_FRACTION_FAILURE) / (2 * ones.size)))
    if abs(kept - keep) <= bound:
        return
    message = (
        f"dropout forward: kept {kept:.1%} of {ones.size} units with p = {hparams['p']}, expected "
        f"{keep:.0%} +- {bound:.1%}"
    )
    if abs(kept - (1 - keep)) <= bound:
        other = "dropping" if year.dropout_p_keeps else "keeping"
        choice = year.others("dropout")[0]
        mistaken = f"dropout: your p is the probability of {other} a unit, as in {choice.sharing('dropout')}"
        # Another year is suggested only where its dropout would pass: kept units scaled by 1 / keep.
        scale = 1.0 / (1.0 - keep)
        if np.allclose(out[out != 0], scale, rtol=1e-7):
            message = (
                f"{mistaken}, not {year.name}: grade with --convention {choice.name} if that is your "
                f"assignment's\n{message}"
            )
        else:
            message = (
                f"{mistaken}, not {year.name}, and it does not scale the units it keeps by 1 / {1 - keep:g} "
                f"either (inverted dropout), so no year's convention accepts it\n{message}"
            )
    raise AssertionError(f"{message}\n{context}")


SHIFT = 800.0
"""Added to every logit: exp(800) overflows float64 (its largest is about exp(709)), and softmax
is unchanged by a shift of a row, so a stable softmax loss returns the same loss and dx."""


def _stable_for_large_logits(sides, example: Example, context: str) -> None:
    """softmax_loss at logits of the magnitude a real network produces: ``x + 800`` has this
    example's loss and dx, which only a softmax that subtracts each row's maximum computes (the
    comparison with the oracle draws logits within [-10, 10], where any softmax is finite)."""
    shifted = Example({"x": example.inputs["x"] + SHIFT, "y": example.inputs["y"]})
    loss, dx = call_forward(sides.candidate, shifted, context)
    if np.all(np.isfinite(loss)) and (not isinstance(dx, np.ndarray) or np.all(np.isfinite(dx))):
        return
    raise AssertionError(
        f"softmax_loss: overflows (NaN or inf) for logits of magnitude {SHIFT:g}: subtract each row's "
        f"maximum from x before np.exp (a softmax is unchanged by it; here x + {SHIFT:g}, whose loss and "
        "dx are this example's)\n" + context
    )


def svm_loss_examples():
    # The reference's hinge examples keep every margin away from the kink; the reduction is the mean.
    return registry.get("multi_margin_loss").examples.map(lambda ex: Example(dict(ex.inputs)))


def _with(hparams: dict):
    return lambda example: Example(dict(example.inputs), {**example.hparams, **hparams})


def _bn_param(arrays, hparams):
    x, gamma, beta, running_mean, running_var = arrays
    param = {"mode": hparams["mode"], "eps": hparams["eps"], "momentum": hparams["momentum"]}
    param["running_mean"], param["running_var"] = running_mean.copy(), running_var.copy()
    return (x, gamma, beta, param)


def _running(args_after, hparams):
    param = args_after[3] if isinstance(args_after, list) and len(args_after) == 4 else {}
    if not isinstance(param, dict):
        return {}
    return {key: param[key] for key in ("running_mean", "running_var") if key in param}


def _loss(op: str, fn: str, examples, reference: str, to_reference) -> Binding:
    """``fn(x, y) -> (loss, dx)``: the forward and the gradient in one call, for an upstream 1."""

    def forward_result(value, args_after, hparams):
        loss, dx = expect_tuple(value, 2, fn, "loss, dx")
        return np.asarray(loss) if isinstance(loss, (int, float, np.generic)) else loss, dx, {}

    def backward(invoke, dout, dx):
        if not isinstance(dx, np.ndarray):
            return dx
        return np.asarray(dout) * dx

    return Binding(
        op,
        (fn,),
        examples,
        ("x",),
        reference,
        lambda arrays, hparams: Call(fn, tuple(arrays)),
        forward_result,
        backward,
        to_reference,
    )


def _bn_reference(example: Example) -> Example:
    hparams = example.hparams
    training = hparams["mode"] == "train"
    return Example(dict(example.inputs), {"training": training, "eps": hparams["eps"], "momentum": 0.1})


def _batchnorm(op: str, forward_fn: str, backward_fn: str, *, spatial: bool) -> Binding:
    """Batch norm, plain or spatial: a ``bn_param`` in, the running statistics left in it."""
    binding = layer(
        op,
        forward_fn,
        backward_fn,
        batchnorm_examples(spatial=spatial),
        ("x", "gamma", "beta"),
        "batch_norm",
        args=_bn_param,
        extras=_running,
        to_reference=_bn_reference,
    )
    return dataclasses.replace(binding, forward_only=batchnorm_examples(spatial=spatial, mode="test"))


def _bindings() -> tuple[Binding, ...]:
    return (
        # The template's affine and relu take the reference's arguments: its examples serve as they are.
        layer(
            "affine",
            "affine_forward",
            "affine_backward",
            registry.get("affine").examples,
            ("x", "w", "b"),
            "affine",
        ),
        dataclasses.replace(
            layer("relu", "relu_forward", "relu_backward", registry.get("relu").examples, ("x",), "relu"),
            ties=PinnedTies(relu_examples(), _relu_at_kink),
        ),
        _batchnorm("batchnorm", "batchnorm_forward", "batchnorm_backward", spatial=False),
        _batchnorm("batchnorm_alt", "batchnorm_forward", "batchnorm_backward_alt", spatial=False),
        _batchnorm(
            "spatial_batchnorm", "spatial_batchnorm_forward", "spatial_batchnorm_backward", spatial=True
        ),
        layer(
            "layernorm",
            "layernorm_forward",
            "layernorm_backward",
            layernorm_examples(),
            ("x", "gamma", "beta"),
            "layer_norm",
            args=lambda a, h: (*a, {"eps": h["eps"]}),
        ),
        _groupnorm("(C,)"),
        layer(
            "conv2d",
            "conv_forward_naive",
            "conv_backward_naive",
            conv_examples(),
            ("x", "w", "b"),
            "conv2d",
            args=lambda a, h: (*a, {"stride": h["stride"], "pad": h["pad"]}),
        ),
        # Ties go to the first maximum, as np.argmax, PyTorch and the reference send them: graded on
        # examples with ties too, and a solution that follows another rule is told so.
        ties.pinned(
            layer(
                "max_pool2d",
                "max_pool_forward_naive",
                "max_pool_backward_naive",
                max_pool_examples(),
                ("x",),
                "max_pool2d",
                args=lambda a, h: (*a, dict(h)),
                to_reference=lambda ex: Example(
                    dict(ex.inputs),
                    {
                        "kernel_size": (ex.hparams["pool_height"], ex.hparams["pool_width"]),
                        "stride": ex.hparams["stride"],
                    },
                ),
            ),
            max_pool_examples,
            "cs231n's convention",
            "first",
            _pool_nchw,
            _pool_window,
        ),
        dataclasses.replace(
            layer(
                "dropout",
                "dropout_forward",
                "dropout_backward",
                dropout_examples(),
                ("x",),
                "dropout",
                args=lambda a, h: (*a, dict(h)),
            ),
            random=RandomDraw(_dropout_oracle_example),
            checks=(_kept_fraction,),
        ),
        _loss("svm_loss", "svm_loss", svm_loss_examples(), "multi_margin_loss", _with({"reduction": "mean"})),
        dataclasses.replace(
            _loss(
                "softmax_loss",
                "softmax_loss",
                softmax_loss_examples(),
                "softmax_cross_entropy",
                _with({"reduction": "mean"}),
            ),
            checks=(_stable_for_large_logits,),
        ),
    )


def _rate(low=1e-4, high=1e-1):
    return gs.floats(min_value=low, max_value=high)


def _optimizers() -> tuple[OptimizerBinding, ...]:
    return (
        OptimizerBinding("sgd", "sgd", st.fixed_dictionaries({}, optional={"learning_rate": _rate()}), ()),
        OptimizerBinding(
            "sgd_momentum",
            "sgd_momentum",
            st.fixed_dictionaries(
                {}, optional={"learning_rate": _rate(), "momentum": gs.floats(min_value=0.0, max_value=0.99)}
            ),
            ("velocity",),
        ),
        OptimizerBinding(
            "rmsprop",
            "rmsprop",
            st.fixed_dictionaries(
                {},
                optional={
                    "learning_rate": _rate(),
                    "decay_rate": gs.floats(min_value=0.5, max_value=0.999),
                    "epsilon": st.sampled_from([1e-8, 1e-4]),
                },
            ),
            ("cache",),
        ),
        OptimizerBinding(
            "adam",
            "adam",
            st.fixed_dictionaries(
                {},
                optional={
                    "learning_rate": _rate(),
                    "beta1": gs.floats(min_value=0.0, max_value=0.99),
                    "beta2": gs.floats(min_value=0.5, max_value=0.9999),
                    "epsilon": st.sampled_from([1e-8, 1e-4]),
                },
            ),
            ("m", "v", "t"),
        ),
    )


def _oracle(year):
    return oracle.oracle(year or oracle.convention(None))


def api() -> Api:
    layers = tuple(b.op for b in _bindings())
    optim = tuple(o.name for o in _optimizers())
    return Api(
        "cs231n",
        _bindings(),
        _optimizers(),
        _oracle,
        oracle.convention,
        assignments=(("layers.py", layers), ("optim.py", optim)),
        variants=_variants,
    )
