"""Harmless shape variants: a result that differs from the template's shape only by leading axes of
length 1 (``(1, D)`` for ``(D,)``, a ``keepdims=True`` running mean) is graded on its values with a
warning, or fails under ``--strict-shapes``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradproof.core.checks import CallFailed
from gradproof.grading.binding import Binding


def _core(shape) -> tuple[int, ...]:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def harmless_variant(got: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    """Whether shape ``got`` differs from ``wanted`` only by leading axes of length 1: ``(1, D)``
    for ``(D,)``, which many correct solutions return (``keepdims=True``) and which broadcasts
    as the template's shape does."""
    return tuple(got) != tuple(wanted) and _core(got) == _core(wanted)


def _symbolic(shape: tuple[int, ...], core: tuple[int, ...]) -> str:
    """``(1, 3)`` as ``(1, D)``: the leading ones kept, the sizes that matter named."""
    names = ["D"] if len(core) == 1 else [f"D{i}" for i in range(1, len(core) + 1)]
    parts = ["1"] * (len(shape) - len(core)) + names
    return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"


@dataclass
class ShapePolicy:
    """What a candidate's harmless shape variants get: a warning and its values graded as they
    are (the default), or, with ``--strict-shapes``, a failed check."""

    strict: bool = False
    seen: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def warnings(self) -> dict[str, str]:
        """Quantity (``batchnorm dgamma``) -> its warning."""
        return {quantity: message for quantity, (_, message) in self.seen.items()}

    def accept(self, quantity: str, got, wanted: tuple[int, ...]):
        """``got``, reshaped to ``wanted`` when it is a harmless variant of it (and warned of)."""
        if not isinstance(got, np.ndarray) or not harmless_variant(got.shape, wanted):
            return got
        core = _core(wanted)
        got_text, wanted_text = _symbolic(got.shape, core), _symbolic(wanted, core)
        message = f"{quantity}: returns {got_text}; the template asks for {wanted_text}"
        if core:
            message += f" (here {got.shape} for {tuple(wanted)})"
        if self.strict:
            raise CallFailed(f"{message} (--strict-shapes)")
        # The message of the example with the most named sizes: (1, 1) for (1,) says less.
        if len(core) >= self.seen.get(quantity, (-1, ""))[0]:
            self.seen[quantity] = (len(core), message)
        return got.reshape(wanted)

    def gradients(self, binding: Binding, grads, shapes: list[tuple[int, ...]]):
        """A backward's gradients, each held to the shape of its input (the differentiable inputs
        come first, in order)."""
        if len(binding.differentiable) == 1 and isinstance(grads, np.ndarray):
            return self.accept(f"{binding.op} d{binding.differentiable[0]}", grads, shapes[0])
        if not isinstance(grads, tuple):
            return grads
        return (
            tuple(
                self.accept(f"{binding.op} d{name}", grad, shape)
                for name, grad, shape in zip(binding.differentiable, grads, shapes, strict=False)
            )
            + grads[min(len(shapes), len(binding.differentiable)) :]
        )
