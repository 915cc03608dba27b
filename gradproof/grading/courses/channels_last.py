"""Pooling over channels-last arrays, as the Coursera notebook and the bootcamp repositories write it:
``A_prev`` is (m, n_H, n_W, n_C). One helper for both courses: the example in the reference's NCHW
(for its kinks), and a max-pool binding pinned to its course's tie rule, with windows named in the
candidate's own layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gradproof.core.registry import Example
from gradproof.grading.binding import Binding
from gradproof.grading.courses import ties

TO_NCHW = (0, 3, 1, 2)


def window(start, shape) -> str:
    """A window of a channels-last ``A_prev``, by its NCHW start."""
    (n, c, row, col), (kh, kw) = start, shape
    return f"A_prev[{n}, {row}:{row + kh}, {col}:{col + kw}, {c}]"


@dataclass(frozen=True)
class Pooling:
    """A course's channels-last pooling: ``kernel(hparams) -> (kh, kw)`` and ``stride(hparams)``
    read its hyperparameters (the notebook's ``f``, the bootcamp's ``kernel_shape``)."""

    kernel: Callable[[dict], tuple[int, int]]
    stride: Callable[[dict], object]

    def to_reference(self, example: Example) -> Example:
        """The example as the reference's pooling op takes it (NCHW)."""
        return Example(
            {"x": example.inputs["A_prev"].transpose(TO_NCHW)},
            {"kernel_size": self.kernel(example.hparams), "stride": self.stride(example.hparams)},
        )

    def nchw(self, example: Example, dout, dx):
        h = example.hparams
        x = example.inputs["A_prev"]
        return (
            x.transpose(TO_NCHW),
            dout.transpose(TO_NCHW),
            dx.transpose(TO_NCHW),
            self.kernel(h),
            self.stride(h),
        )

    def pinned(self, binding: Binding, examples: Callable, course: str, rule: str) -> Binding:
        """``binding`` (max pooling) graded on examples with ties too, by ``rule``
        (:func:`ties.pinned`)."""
        return ties.pinned(binding, examples, course, rule, self.nchw, window)
