"""The bootcamp API: NHWC with explicit arguments, as many machine-learning bootcamp repositories
write it (``conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1))``, ...; see
:mod:`gradproof.grading.courses.bootcamp_oracle`, its oracle). Its functions share names with the Coursera
notebook's and differ in their parameters, which is how the two are told apart.

There are no caches: the backward takes the forward's inputs again, so the grading process keeps
them and passes them back. The convolution is graded on ``Z``, its output before the activation
(the backward takes ``dZ``), with ``np.positive`` (the identity ufunc) as the activation; a second
call with ``np.tanh`` checks that the activation is applied.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.checks import call_forward
from gradproof.core.compare import assert_close
from gradproof.core.registry import Example
from gradproof.grading.binding import Api, Binding, Call, OptimizerBinding, expect_tuple
from gradproof.grading.courses import channels_last, ties


def _int(draw, low, high):
    return draw(st.integers(low, high))


def _dim(draw, padding: str) -> tuple[int, int, int]:
    """(kernel, stride, input side) along one axis. For "same", the padding ``(side - 1) * stride +
    kernel - side`` is kept even, so that the int() and ceil() roundings these repositories use
    agree: with stride 1 that takes an odd kernel."""
    stride = _int(draw, 1, 2)
    if padding == "valid":
        kernel = _int(draw, 1, 3)
        return kernel, stride, _int(draw, kernel, kernel + 3)
    kernel = draw(st.sampled_from([1, 3])) if stride == 1 else _int(draw, 1, 3)
    sides = [n for n in range(1, 7) if ((n - 1) * stride + kernel - n) % 2 == 0]
    return kernel, stride, draw(st.sampled_from(sides))


@st.composite
def conv_examples(draw):
    padding = draw(st.sampled_from(["same", "valid"]))
    (kh, sh, h), (kw, sw, w) = _dim(draw, padding), _dim(draw, padding)
    c_prev, c_new = _int(draw, 1, 3), _int(draw, 1, 3)
    return Example(
        {
            "A_prev": draw(gs.arrays((_int(draw, 1, 2), h, w, c_prev))),
            "W": draw(gs.arrays((kh, kw, c_prev, c_new))),
            "b": draw(gs.arrays((1, 1, 1, c_new))),
        },
        {"padding": padding, "stride": (sh, sw)},
    )


def pool_examples(values: str):
    """Pooling examples with ``values`` as :func:`ties.pool_values` draws them."""

    @st.composite
    def examples(draw):
        kh, kw, sh, sw = _int(draw, 1, 3), _int(draw, 1, 3), _int(draw, 1, 2), _int(draw, 1, 2)
        shape = (_int(draw, 1, 2), _int(draw, kh, kh + 3), _int(draw, kw, kw + 3), _int(draw, 1, 3))
        return Example(
            {"A_prev": draw(ties.pool_values(shape, values))}, {"kernel_shape": (kh, kw), "stride": (sh, sw)}
        )

    return examples()


def _inputs_as_cache(value, args_after, hparams):
    """A forward that returns its output only: the cache is its inputs, as they were after the call
    (the backward takes them again)."""
    return value, (args_after, hparams), {}


def _inputs(example: Example):
    """The cache of :func:`_inputs_as_cache`, from the example: the backward takes the inputs again,
    so it is graded without the candidate's forward."""
    return list(example.inputs.values()), dict(example.hparams)


def _activation_applied(sides, example: Example, context: str) -> None:
    """conv_forward applies its activation: with ``np.tanh`` its output is tanh of its own output
    with the identity. Whether that Z is right is the forward comparison's to say (and to name the
    mistake of), so a wrong Z is not reported here as a missing activation."""
    with_tanh = Example(dict(example.inputs), {**example.hparams, "activation": np.tanh})
    got, _ = call_forward(sides.candidate, with_tanh.copy(), context)
    z, _ = call_forward(sides.candidate, example.copy(), context)
    if got.shape == z.shape:  # a wrong shape is the forward comparison's to say
        assert_close(
            got,
            np.tanh(z),
            tol=sides.candidate.tolerance("oracle"),
            quantity="conv2d forward with activation=np.tanh",
            context=context,
            got_label="yours",
            expected_label="tanh of your output with activation=np.positive",
        )


def _conv() -> Binding:
    def forward_call(arrays, hparams):
        activation = hparams.get("activation", np.positive)
        return Call("conv_forward", (*arrays, activation, hparams["padding"], hparams["stride"]))

    def backward(invoke, dout, cache):
        (a_prev, w, b, *_), hparams = cache
        value = invoke(Call("conv_backward", (dout, a_prev, w, b, hparams["padding"], hparams["stride"])))
        return expect_tuple(value, 3, "conv_backward", "dA_prev, dW, db")

    return Binding(
        "conv2d",
        ("conv_forward", "conv_backward"),
        conv_examples(),
        ("A_prev", "W", "b"),
        "conv2d",
        forward_call,
        _inputs_as_cache,
        backward,
        checks=(_activation_applied,),
        documented_cache=_inputs,
    )


POOLING = channels_last.Pooling(kernel=lambda h: tuple(h["kernel_shape"]), stride=lambda h: h["stride"])


def _pool(op: str, mode: str) -> Binding:
    def forward_call(arrays, hparams):
        return Call("pool_forward", (*arrays, hparams["kernel_shape"], hparams["stride"], mode))

    def backward(invoke, dout, cache):
        (a_prev, *_), hparams = cache
        return invoke(Call("pool_backward", (dout, a_prev, hparams["kernel_shape"], hparams["stride"], mode)))

    binding = Binding(
        op,
        ("pool_forward", "pool_backward"),
        pool_examples("distinct" if mode == "max" else "any"),
        ("A_prev",),
        op,
        forward_call,
        _inputs_as_cache,
        backward,
        to_reference=POOLING.to_reference,
        documented_cache=_inputs,
    )
    if mode != "max":
        return binding
    # The mask x == np.max(x) these repositories write gives every tied maximum the gradient.
    mask = "the mask x == np.max(x) of this convention"
    return POOLING.pinned(binding, pool_examples, mask, "every")


def _rate():
    return gs.floats(min_value=1e-4, max_value=1e-1)


def _optimizer(rule: str, hyper: dict, moments: tuple[str, ...], with_t: bool) -> OptimizerBinding:
    fn = f"update_variables_{rule}"

    def call(w, dw, config, step):
        state = tuple(config.get(name, np.zeros_like(w)) for name in moments)
        args = (*(config[name] for name in hyper), w, dw, *state)
        return Call(fn, (*args, step) if with_t else args)

    def unpack(value, config):
        var, *found = expect_tuple(value, 1 + len(moments), fn, ", ".join(("var", *moments)))
        return var, {**config, **dict(zip(moments, found, strict=True))}

    return OptimizerBinding(rule, fn, st.fixed_dictionaries(hyper), moments, call, unpack)


def _optimizers() -> tuple[OptimizerBinding, ...]:
    beta1 = gs.floats(min_value=0.0, max_value=0.99)
    beta2 = gs.floats(min_value=0.5, max_value=0.9999)
    epsilon = st.sampled_from([1e-8, 1e-4])
    return (
        _optimizer("momentum", {"alpha": _rate(), "beta1": beta1}, ("v",), with_t=False),
        _optimizer("RMSProp", {"alpha": _rate(), "beta2": beta2, "epsilon": epsilon}, ("s",), with_t=False),
        _optimizer(
            "Adam",
            {"alpha": _rate(), "beta1": beta1, "beta2": beta2, "epsilon": epsilon},
            ("v", "s"),
            with_t=True,
        ),
    )


ARITY = {"conv_forward": 6, "conv_backward": 6, "pool_forward": 4, "pool_backward": 5}
"""The template's parameter counts, where the Coursera notebook has functions of the same names."""


def api() -> Api:
    bindings = (_conv(), _pool("max_pool2d", "max"), _pool("avg_pool2d", "avg"))
    # Two projects, a file per task: the CNN project's conv and pooling, the optimization project's
    # update rules.
    projects = (
        ("convolutions and pooling", tuple(b.op for b in bindings)),
        ("optimization", tuple(o.name for o in _optimizers())),
    )
    return Api(
        "bootcamp",
        bindings,
        _optimizers(),
        "gradproof.grading.courses.bootcamp_oracle",
        arity=ARITY,
        assignments=projects,
    )
