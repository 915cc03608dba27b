"""The mistakes cs231n students make in ``softmax_loss`` and ``svm_loss``, as mutants of
:mod:`gradproof.grading.courses.cs231n_oracle`'s losses (see
:mod:`gradproof.grading.courses.cs231n_mutants`)."""

from __future__ import annotations

import numpy as np

from gradproof.grading.diagnose import Mutant


def _softmax(mistake: str):
    def loss(o, x, y):
        value, dx = o.softmax_loss(x, y)
        n = x.shape[0]
        if mistake == "sum":
            return value * n, dx * n
        if mistake == "dx_sum":
            return value, dx * n
        dx = dx.copy()
        dx[np.arange(n), y] += 1.0 / n
        return value, dx

    return loss


def _svm(mistake: str):
    def loss(o, x, y):
        value, dx = o.svm_loss(x, y)
        n = x.shape[0]
        if mistake == "sum":
            return value * n, dx * n
        if mistake == "dx_sum":
            return value, dx * n
        if mistake == "own_margin":
            return value + 1.0, dx
        dx = dx.copy()
        dx[np.arange(n), y] = 0.0
        return value, dx

    return loss


def mutants() -> list[Mutant]:
    return [
        Mutant(
            "softmax_loss",
            ("forward",),
            {"softmax_loss": _softmax("sum")},
            "the loss summed over the batch",
            "the loss is the mean over the N examples: divide by N",
        ),
        Mutant(
            "softmax_loss",
            ("dx",),
            {"softmax_loss": _softmax("dx_sum")},
            "the gradient of the summed loss, N times the right one",
            "the loss is averaged over the batch, so dx is divided by N too",
        ),
        Mutant(
            "softmax_loss",
            ("dx",),
            {"softmax_loss": _softmax("no_label")},
            "softmax(x) / N without the -1 at the label",
            "d(-log p_y)/dx = p - 1 at the label y: subtract 1 at dx[i, y[i]] before dividing by N",
        ),
        Mutant(
            "svm_loss",
            ("forward",),
            {"svm_loss": _svm("sum")},
            "the hinge loss summed over the batch",
            "the loss is the mean over the N examples: divide by N",
        ),
        Mutant(
            "svm_loss",
            ("dx",),
            {"svm_loss": _svm("dx_sum")},
            "the gradient of the summed loss, N times the right one",
            "the loss is averaged over the batch, so dx is divided by N too",
        ),
        Mutant(
            "svm_loss",
            ("forward",),
            {"svm_loss": _svm("own_margin")},
            "the loss with the correct class's own margin counted (1 more per example)",
            "the sum of margins skips j = y[i], whose margin is always 1",
        ),
        Mutant(
            "svm_loss",
            ("dx",),
            {"svm_loss": _svm("no_label")},
            "the gradient without its term at the label (dx[i, y[i]] = 0)",
            "each positive margin also subtracts x[i, y[i]]: dx[i, y[i]] is minus their count, over N",
        ),
    ]
