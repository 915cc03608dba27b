"""The coursera API: the Deep Learning Specialization's "Convolution model - Step by Step"
functions, channels-last (NHWC). Inputs, gradients and messages are in the notebook's own terms
(``A_prev``, ``W``, ``b``, ``dA_prev``, ...). The oracle is :mod:`reference.conventions.coursera`."""

from __future__ import annotations

from hypothesis import strategies as st

from gradproof import strategies as gs
from gradproof.api import Api, Binding, Call, layer
from gradproof.registry import Example

TO_NCHW = (0, 3, 1, 2)


def _int(draw, low, high):
    return draw(st.integers(low, high))


@st.composite
def zero_pad_examples(draw):
    shape = (_int(draw, 1, 2), _int(draw, 1, 4), _int(draw, 1, 4), _int(draw, 1, 3))
    return Example({"X": draw(gs.arrays(shape))}, {"pad": _int(draw, 0, 3)})


@st.composite
def conv_examples(draw):
    f, stride, pad = _int(draw, 1, 3), _int(draw, 1, 2), _int(draw, 0, 2)
    smallest = max(1, f - 2 * pad)  # one output row at least
    h, w = _int(draw, smallest, smallest + 4), _int(draw, smallest, smallest + 4)
    c_prev, c = _int(draw, 1, 3), _int(draw, 1, 3)
    return Example(
        {
            "A_prev": draw(gs.arrays((_int(draw, 1, 2), h, w, c_prev))),
            "W": draw(gs.arrays((f, f, c_prev, c))),
            "b": draw(gs.arrays((1, 1, 1, c))),
        },
        {"stride": stride, "pad": pad},
    )


def pool_examples(distinct: bool):
    @st.composite
    def examples(draw):
        f, stride = _int(draw, 1, 3), _int(draw, 1, 3)
        shape = (_int(draw, 1, 2), _int(draw, f, f + 4), _int(draw, f, f + 4), _int(draw, 1, 3))
        a = draw(gs.distinct_values(shape) if distinct else gs.arrays(shape))
        return Example({"A_prev": a}, {"f": f, "stride": stride})

    return examples()


def _pool(op: str, mode: str, distinct: bool) -> Binding:
    return layer(
        op,
        "pool_forward",
        "pool_backward",
        pool_examples(distinct),
        ("A_prev",),
        op,
        args=lambda a, h: (*a, dict(h)),
        kwargs=lambda a, h: {"mode": mode},
        backward_kwargs={"mode": mode},
        to_reference=lambda ex: Example(
            {"x": ex.inputs["A_prev"].transpose(TO_NCHW)},
            {"kernel_size": ex.hparams["f"], "stride": ex.hparams["stride"]},
        ),
    )


def _zero_pad() -> Binding:
    def forward_result(value, args_after, hparams):
        return value, None, {}

    return Binding(
        "zero_pad",
        ("zero_pad",),
        zero_pad_examples(),
        ("X",),
        None,
        lambda arrays, hparams: Call("zero_pad", (*arrays, hparams["pad"])),
        forward_result,
        None,
    )


def api() -> Api:
    bindings = (
        _zero_pad(),
        layer(
            "conv2d",
            "conv_forward",
            "conv_backward",
            conv_examples(),
            ("A_prev", "W", "b"),
            "conv2d",
            args=lambda a, h: (*a, dict(h)),
        ),
        _pool("max_pool2d", "max", distinct=True),
        _pool("avg_pool2d", "average", distinct=False),
    )
    return Api("coursera", bindings, (), "reference.conventions.coursera")
