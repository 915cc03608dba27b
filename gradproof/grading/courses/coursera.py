"""The coursera API: the Deep Learning Specialization's "Convolution model - Step by Step"
functions, channels-last (NHWC). Inputs, gradients and messages are in the notebook's own terms
(``A_prev``, ``W``, ``b``, ``dA_prev``, ...). The oracle is
:mod:`gradproof.grading.courses.coursera_oracle`."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.registry import Example
from gradproof.grading.binding import Api, Binding, Call, layer
from gradproof.grading.courses import channels_last, ties


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


def pool_examples(values: str):
    """Pooling examples with ``values`` as :func:`ties.pool_values` draws them."""

    @st.composite
    def examples(draw):
        f, stride = _int(draw, 1, 3), _int(draw, 1, 3)
        shape = (_int(draw, 1, 2), _int(draw, f, f + 4), _int(draw, f, f + 4), _int(draw, 1, 3))
        return Example({"A_prev": draw(ties.pool_values(shape, values))}, {"f": f, "stride": stride})

    return examples()


POOLING = channels_last.Pooling(kernel=lambda h: (h["f"], h["f"]), stride=lambda h: h["stride"])


def _pool(op: str, mode: str) -> Binding:
    binding = layer(
        op,
        "pool_forward",
        "pool_backward",
        pool_examples("distinct" if mode == "max" else "any"),
        ("A_prev",),
        op,
        args=lambda a, h: (*a, dict(h)),
        kwargs=lambda a, h: {"mode": mode},
        backward_kwargs={"mode": mode},
        to_reference=POOLING.to_reference,
    )
    # The notebook's pool_forward ends with `cache = (A_prev, hparameters)`.
    binding = dataclasses.replace(
        binding, documented_cache=lambda example: (example.inputs["A_prev"], dict(example.hparams))
    )
    if mode != "max":
        return binding
    # The notebook's mask x == np.max(x) sends the gradient to every tied maximum: graded as its
    # convention, on examples with ties too.
    mask = "the notebook's create_mask_from_window"
    return POOLING.pinned(binding, pool_examples, mask, "every")


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
        dataclasses.replace(
            layer(
                "conv2d",
                "conv_forward",
                "conv_backward",
                conv_examples(),
                ("A_prev", "W", "b"),
                "conv2d",
                args=lambda a, h: (*a, dict(h)),
            ),
            # The notebook's conv_forward ends with `cache = (A_prev, W, b, hparameters)`.
            documented_cache=lambda ex: (*ex.inputs.values(), dict(ex.hparams)),
        ),
        _pool("max_pool2d", "max"),
        _pool("avg_pool2d", "average"),
    )
    # One notebook: each of its graded functions is asked for.
    notebook = ("Convolution model - Step by Step", tuple(b.op for b in bindings))
    return Api(
        "coursera",
        bindings,
        (),
        "gradproof.grading.courses.coursera_oracle",
        arity=ARITY,
        assignments=(notebook,),
        # The course's notebooks ran NumPy 1, whose float() of a (1, 1, 1) array the template's
        # conv_single_step relies on; NumPy 2 refuses it.
        numpy="1.26.4",
    )


ARITY = {"zero_pad": 2, "conv_forward": 4, "conv_backward": 2, "pool_forward": 3, "pool_backward": 3}
"""The notebook's parameter counts, where the bootcamp API has functions of the same names."""
