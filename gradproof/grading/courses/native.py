"""The native API: the reference's own function names and signatures (``conv2d_forward(x, w, b, *,
stride, padding, dilation, groups) -> (out, cache)``, ``conv2d_backward(dout, cache) -> (dx, dw,
db)``, ...), for every registered op, plug-ins included, and the optimizers' ``*_init`` /
``*_step`` pairs."""

from __future__ import annotations

import types

from gradproof.core import registry
from gradproof.grading.binding import Api, Binding, Call, expect_tuple
from gradproof.grading.courses import stability


def _binding(spec: registry.OpSpec) -> Binding:
    def forward_call(arrays, hparams):
        return Call(spec.forward.__name__, tuple(arrays), dict(hparams), store=(1,))

    def forward_result(value, args_after, hparams):
        out, cache = expect_tuple(value, 2, spec.forward.__name__, "out, cache")
        return out, cache, {}

    def backward(invoke, dout, cache):
        # Not `layer()`'s backward: the native API lets a backward return only the gradients of the
        # inputs an example has (conv2d without a bias), which the checks' call_backward sorts out.
        return invoke(Call(spec.backward.__name__, (dout, cache)))

    return Binding(
        op=spec.name,
        functions=(spec.forward.__name__, spec.backward.__name__),
        examples=spec.examples,
        differentiable=spec.differentiable,
        reference=spec.name,
        forward_call=forward_call,
        forward_result=forward_result,
        backward=backward,
        # What a network's logits reach, and a standard normal example does not.
        checks=(stability.check(spec.name),) if spec.name in stability.ADVICE else (),
    )


def _oracle(convention=None) -> types.SimpleNamespace:
    functions = {}
    for spec in registry.all_specs():
        functions[spec.forward.__name__] = spec.forward
        functions[spec.backward.__name__] = spec.backward
    return types.SimpleNamespace(**functions)


def api() -> Api:
    # Ops whose functions have generic names (the networks' shared container) cannot be told apart
    # by name, so they are not part of the native API.
    specs = registry.all_specs()
    counts: dict[str, int] = {}
    for spec in specs:
        for fn in (spec.forward.__name__, spec.backward.__name__):
            counts[fn] = counts.get(fn, 0) + 1
    bindings = tuple(
        _binding(spec)
        for spec in specs
        if counts[spec.forward.__name__] == 1 and counts[spec.backward.__name__] == 1
    )
    return Api("native", bindings, (), _oracle)
