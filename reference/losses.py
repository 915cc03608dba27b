r"""Classification losses. Each reduces by the mean over the batch unless its ``reduction``
hyperparameter says otherwise, as in PyTorch."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradproof.core import kinks
from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, not {reduction!r}")


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _reduce_backward(dout, shape, reduction):
    """The upstream gradient of each unreduced loss term, broadcast to ``shape``."""
    if reduction == "mean":
        return np.broadcast_to(dout / np.prod(shape), shape)
    if reduction == "sum":
        return np.broadcast_to(dout, shape)
    return dout


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def batch_and_classes(draw):
    return draw(st.integers(1, 5)), draw(st.integers(1, 6))


def labels(draw, n, c):
    return draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))


def probability_rows(draw, n, c):
    """Rows of positive probabilities summing to one (a softmax of bounded logits)."""
    return _softmax_rows(draw(gs.arrays((n, c))))


def _softmax_rows(x):
    return np.exp(_log_softmax(x))


def reductions(draw):
    return draw(st.sampled_from(REDUCTIONS))


def softmax_cross_entropy_forward(x, y, reduction="mean"):
    r"""Softmax cross-entropy of scores against integer class labels.

    .. math::
        \ell_n = -\log \mathrm{softmax}(x_n)_{y_n}
               = -x_{n, y_n} + \log \textstyle\sum_c e^{x_{n,c}}

    The log-sum-exp is shifted by :math:`\max_c x_{n,c}`, so that no exponential overflows.

    Parameters
    ----------
    x : ndarray of shape (N, C)
        Unnormalised scores (logits).
    y : ndarray of shape (N,), integer
        Labels, :math:`0 \le y_n < C`.
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` averages :math:`\ell_n` over the batch, ``'sum'`` adds them, ``'none'`` returns
        each (as ``torch.nn.functional.cross_entropy``).

    Returns
    -------
    loss : float64 scalar, or ndarray of shape (N,) for ``reduction='none'``
    cache : tuple
        ``(probs, y, reduction)``, for :func:`softmax_cross_entropy_backward`.
    """
    _check_reduction(reduction)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_probs[np.arange(x.shape[0]), y]
    return _reduce(losses, reduction), (np.exp(log_probs), y, reduction)


def softmax_cross_entropy_backward(dout, cache):
    r"""Gradient of softmax cross-entropy.

    .. math:: \frac{\partial \ell_n}{\partial x_{n,c}} = \mathrm{softmax}(x_n)_c - [c = y_n]

    times the upstream gradient of :math:`\ell_n` (``dout / N`` for the mean).

    Parameters
    ----------
    dout : float64 scalar, or ndarray of shape (N,) for ``reduction='none'``
    cache : tuple from :func:`softmax_cross_entropy_forward`

    Returns
    -------
    dx : ndarray of shape (N, C)
    """
    probs, y, reduction = cache
    dx = probs.copy()
    dx[np.arange(probs.shape[0]), y] -= 1.0
    return dx * _reduce_backward(dout, (probs.shape[0],), reduction)[:, None]


@st.composite
def softmax_cross_entropy_examples(draw):
    n, c = batch_and_classes(draw)
    return Example(
        inputs={
            "x": draw(gs.arrays((n, c), elements=gs.floats(min_value=-10.0, max_value=10.0))),
            "y": labels(draw, n, c),
        },
        hparams={"reduction": reductions(draw)},
    )


@op(
    "softmax_cross_entropy",
    forward=softmax_cross_entropy_forward,
    backward=softmax_cross_entropy_backward,
    examples=softmax_cross_entropy_examples(),
    differentiable=("x",),
)
def softmax_cross_entropy_twin(x, y, reduction):
    import torch.nn.functional as F

    return F.cross_entropy(x, y, reduction=reduction)


def softmax_cross_entropy_soft_forward(x, target, reduction="mean"):
    r"""Softmax cross-entropy against soft (or one-hot) targets, as
    ``torch.nn.functional.cross_entropy`` with class-probability targets.

    .. math:: \ell_n = -\sum_c t_{n,c} \log \mathrm{softmax}(x_n)_c

    Parameters
    ----------
    x : ndarray of shape (N, C)
        Logits.
    target : ndarray of shape (N, C)
        Class probabilities per row (one-hot for hard labels). Rows need not sum to one; the
        formula and its gradient hold for any weights.
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` averages over the batch.

    Returns
    -------
    loss : float64 scalar, or ndarray of shape (N,) for ``reduction='none'``
    cache : tuple
        For :func:`softmax_cross_entropy_soft_backward`.
    """
    _check_reduction(reduction)
    log_probs = _log_softmax(x)
    losses = -(target * log_probs).sum(axis=1)
    return _reduce(losses, reduction), (log_probs, target, reduction)


def softmax_cross_entropy_soft_backward(dout, cache):
    r"""Gradients of soft-target cross-entropy, times each :math:`\ell_n`'s upstream gradient:

    .. math::
        \frac{\partial \ell_n}{\partial x_{n,c}} = \mathrm{softmax}(x_n)_c \sum_k t_{n,k} - t_{n,c}, \qquad
        \frac{\partial \ell_n}{\partial t_{n,c}} = -\log \mathrm{softmax}(x_n)_c

    Returns
    -------
    dx, dtarget : ndarray of shape (N, C)
    """
    log_probs, target, reduction = cache
    upstream = _reduce_backward(dout, (log_probs.shape[0],), reduction)[:, None]
    dx = np.exp(log_probs) * target.sum(axis=1, keepdims=True) - target
    return dx * upstream, -log_probs * upstream


def nll_loss_forward(log_probs, y, reduction="mean"):
    r"""Negative log-likelihood of integer labels under log-probabilities, as
    ``torch.nn.functional.nll_loss``: :math:`\ell_n = -\mathrm{log\_probs}_{n, y_n}`.

    Parameters
    ----------
    log_probs : ndarray of shape (N, C)
        Usually the output of log-softmax; any values are accepted.
    y : ndarray of shape (N,), integer
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    loss : float64 scalar, or ndarray of shape (N,) for ``reduction='none'``
    cache : tuple
        For :func:`nll_loss_backward`.
    """
    _check_reduction(reduction)
    losses = -log_probs[np.arange(log_probs.shape[0]), y]
    return _reduce(losses, reduction), (log_probs.shape, y, reduction)


def nll_loss_backward(dout, cache):
    r"""Gradient of the NLL loss: :math:`-1` at each example's label, 0 elsewhere, times the upstream
    gradient of :math:`\ell_n`.

    Returns
    -------
    dlog_probs : ndarray of shape (N, C)
    """
    shape, y, reduction = cache
    dlog_probs = np.zeros(shape)
    dlog_probs[np.arange(shape[0]), y] = -_reduce_backward(dout, (shape[0],), reduction)
    return dlog_probs


def binary_cross_entropy_forward(p, target, reduction="mean"):
    r"""Binary cross-entropy on probabilities, as ``torch.nn.functional.binary_cross_entropy``:

    .. math:: \ell_i = -\bigl(t_i \log p_i + (1 - t_i) \log(1 - p_i)\bigr)

    ``'mean'`` averages over every element. PyTorch clamps each log at -100; inside (0, 1) that
    never bites, and probabilities of exactly 0 or 1 are outside this op's domain.

    Parameters
    ----------
    p : ndarray of any shape
        Probabilities in (0, 1).
    target : ndarray of p's shape
        In [0, 1]. Not differentiated (PyTorch does not differentiate it either).
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    loss : float64 scalar, or ndarray of p's shape for ``reduction='none'``
    cache : tuple
        For :func:`binary_cross_entropy_backward`.
    """
    _check_reduction(reduction)
    losses = -(target * np.log(p) + (1 - target) * np.log1p(-p))
    return _reduce(losses, reduction), (p, target, reduction)


def binary_cross_entropy_backward(dout, cache):
    r"""Gradient of binary cross-entropy: :math:`dp_i = \frac{p_i - t_i}{p_i (1 - p_i)}` times the
    upstream gradient of :math:`\ell_i`.

    Returns
    -------
    dp : ndarray of p's shape
    """
    p, target, reduction = cache
    return (p - target) / (p * (1 - p)) * _reduce_backward(dout, p.shape, reduction)


def binary_cross_entropy_with_logits_forward(x, target, reduction="mean"):
    r"""Binary cross-entropy on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``:
    :math:`\ell_i = \mathrm{BCE}(\sigma(x_i), t_i)`, computed in the stable form

    .. math:: \ell_i = \max(x_i, 0) - x_i t_i + \log\bigl(1 + e^{-|x_i|}\bigr)

    Parameters
    ----------
    x : ndarray of any shape
    target : ndarray of x's shape
        In [0, 1].
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` averages over every element.

    Returns
    -------
    loss : float64 scalar, or ndarray of x's shape for ``reduction='none'``
    cache : tuple
        For :func:`binary_cross_entropy_with_logits_backward`.
    """
    _check_reduction(reduction)
    losses = np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x)))
    return _reduce(losses, reduction), (x, target, reduction)


def binary_cross_entropy_with_logits_backward(dout, cache):
    r"""Gradients: :math:`dx_i = \sigma(x_i) - t_i` and :math:`dt_i = -x_i`, times the upstream
    gradient of :math:`\ell_i`.

    Returns
    -------
    dx, dtarget : ndarray of x's shape
    """
    x, target, reduction = cache
    upstream = _reduce_backward(dout, x.shape, reduction)
    z = np.exp(-np.abs(x))
    sigmoid = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return (sigmoid - target) * upstream, -x * upstream


def multi_margin_loss_forward(x, y, reduction="mean"):
    r"""Multi-class hinge (SVM) loss with margin 1, as ``torch.nn.functional.multi_margin_loss``:

    .. math:: \ell_n = \frac{1}{C} \sum_{c \ne y_n} \max(0,\, 1 - x_{n, y_n} + x_{n, c})

    PyTorch's convention divides by the number of classes C; cs231n's ``svm_loss`` does not (its
    loss is C times this one).

    Parameters
    ----------
    x : ndarray of shape (N, C)
        Scores.
    y : ndarray of shape (N,), integer
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    loss : float64 scalar, or ndarray of shape (N,) for ``reduction='none'``
    cache : tuple
        For :func:`multi_margin_loss_backward`.
    """
    _check_reduction(reduction)
    rows = np.arange(x.shape[0])
    margins = 1.0 - x[rows, y][:, None] + x
    margins[rows, y] = 0.0
    losses = np.maximum(margins, 0.0).sum(axis=1) / x.shape[1]
    return _reduce(losses, reduction), (margins > 0, y, reduction)


def multi_margin_loss_backward(dout, cache):
    r"""Gradient of the hinge loss: each class :math:`c \ne y_n` whose margin is violated gets
    :math:`1/C`, the true class minus the count of violations over C, times the upstream gradient.

    Returns
    -------
    dx : ndarray of shape (N, C)
    """
    violated, y, reduction = cache
    n, c = violated.shape
    dx = violated / c
    dx[np.arange(n), y] = -violated.sum(axis=1) / c
    return dx * _reduce_backward(dout, (n,), reduction)[:, None]


KL_REDUCTIONS = ("batchmean", "sum", "mean", "none")


def kl_div_forward(log_q, p, reduction="batchmean"):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \,\|\, q)` from log-probabilities
    :math:`\log q` (the prediction) to probabilities :math:`p` (the target), as
    ``torch.nn.functional.kl_div(log_q, p)``:

    .. math:: \ell_{n,c} = p_{n,c} (\log p_{n,c} - \log q_{n,c})

    Reductions: ``'batchmean'`` (the divergence per example, the default here as the mean over the
    batch), ``'sum'``, ``'mean'`` (over every element: PyTorch's default, which is not the
    divergence), ``'none'``.

    Parameters
    ----------
    log_q : ndarray of shape (N, C)
    p : ndarray of shape (N, C)
        Positive.
    reduction : {'batchmean', 'sum', 'mean', 'none'}

    Returns
    -------
    loss : float64 scalar, or ndarray of shape (N, C) for ``reduction='none'``
    cache : tuple
        For :func:`kl_div_backward`.
    """
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"reduction must be one of {KL_REDUCTIONS}, not {reduction!r}")
    pointwise = p * (np.log(p) - log_q)
    if reduction == "batchmean":
        return pointwise.sum() / p.shape[0], (log_q, p, reduction)
    return _reduce(pointwise, reduction), (log_q, p, reduction)


def kl_div_backward(dout, cache):
    r"""Gradients of the KL divergence: :math:`d\log q = -p` and :math:`dp = \log p + 1 - \log q`,
    times the upstream gradient of :math:`\ell_{n,c}`.

    Returns
    -------
    dlog_q, dp : ndarray of shape (N, C)
    """
    log_q, p, reduction = cache
    if reduction == "batchmean":
        upstream = np.broadcast_to(dout / p.shape[0], p.shape)
    else:
        upstream = _reduce_backward(dout, p.shape, reduction)
    return -p * upstream, (np.log(p) + 1.0 - log_q) * upstream


@st.composite
def softmax_cross_entropy_soft_examples(draw):
    n, c = batch_and_classes(draw)
    target = np.eye(c)[labels(draw, n, c)] if draw(st.booleans()) else probability_rows(draw, n, c)
    x = draw(gs.arrays((n, c), elements=gs.floats(min_value=-10.0, max_value=10.0)))
    return Example(inputs={"x": x, "target": target}, hparams={"reduction": reductions(draw)})


@st.composite
def nll_loss_examples(draw):
    n, c = batch_and_classes(draw)
    log_probs = _log_softmax(draw(gs.arrays((n, c))))
    return Example(
        inputs={"log_probs": log_probs, "y": labels(draw, n, c)}, hparams={"reduction": reductions(draw)}
    )


@st.composite
def binary_cross_entropy_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    return Example(
        inputs={
            # Away from 0 and 1, where the loss and its gradient blow up (PyTorch clamps there).
            "p": draw(gs.arrays(shape, elements=gs.floats(min_value=0.01, max_value=0.99))),
            "target": draw(gs.arrays(shape, elements=gs.floats(min_value=0.0, max_value=1.0))),
        },
        hparams={"reduction": reductions(draw)},
    )


@st.composite
def binary_cross_entropy_with_logits_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    return Example(
        inputs={
            "x": draw(gs.arrays(shape, elements=gs.floats(min_value=-30.0, max_value=30.0))),
            "target": draw(gs.arrays(shape, elements=gs.floats(min_value=0.0, max_value=1.0))),
        },
        hparams={"reduction": reductions(draw)},
    )


@st.composite
def multi_margin_loss_examples(draw):
    """Scores whose margins :math:`1 - x_{y} + x_c` all keep away from 0, the hinge's kink: each
    wrong class's score is placed relative to the true class's."""
    n, c = batch_and_classes(draw)
    y = labels(draw, n, c)
    true_scores = draw(gs.arrays((n,)))
    margins = draw(gs.arrays((n, c), elements=gs.away_from((0.0,), margin=gs.margin_after_sums())))
    x = true_scores[:, None] - 1.0 + margins
    x[np.arange(n), y] = true_scores
    return Example(inputs={"x": x, "y": y}, hparams={"reduction": reductions(draw)})


def margin_distance(example: Example) -> float:
    """Half the smallest margin's distance from 0: two scores move the margin, each by at most that."""
    x, y = example.inputs["x"], example.inputs["y"]
    rows = np.arange(x.shape[0])
    margins = 1.0 - x[rows, y][:, None] + x
    margins[rows, y] = np.inf
    return float(np.min(np.abs(margins)) / 2) if x.shape[1] > 1 else np.inf


def onto_zero_margins(example: Example, rng: np.random.Generator) -> Example:
    """Some wrong-class scores moved to :math:`x_c = -(1 - x_y)`, so that the margin
    :math:`(1 - x_y) + x_c` is exactly 0 in floating point, summed in PyTorch's order."""
    x, y = example.inputs["x"].copy(), example.inputs["y"]
    rows = np.arange(x.shape[0])
    wrong_class = np.ones(x.shape, dtype=bool)
    wrong_class[rows, y] = False
    mask = kinks.some_elements(x.shape, rng, among=wrong_class)
    x[mask] = np.broadcast_to(-(1.0 - x[rows, y])[:, None], x.shape)[mask]
    return kinks.with_input(example, "x", x)


HINGE = kinks.Kinks(
    where="a margin 1 - x[n, y[n]] + x[n, c] of exactly 0",
    distance=margin_distance,
    onto=onto_zero_margins,
)
"""On a margin of 0 the hinge is not violated (the subgradient 0), as in PyTorch's ``z > 0``."""


@st.composite
def kl_div_examples(draw):
    n, c = batch_and_classes(draw)
    return Example(
        inputs={"log_q": _log_softmax(draw(gs.arrays((n, c)))), "p": probability_rows(draw, n, c)},
        hparams={"reduction": draw(st.sampled_from(KL_REDUCTIONS))},
    )


@op(
    "softmax_cross_entropy_soft",
    forward=softmax_cross_entropy_soft_forward,
    backward=softmax_cross_entropy_soft_backward,
    examples=softmax_cross_entropy_soft_examples(),
    differentiable=("x", "target"),
)
def softmax_cross_entropy_soft_twin(x, target, reduction):
    import torch.nn.functional as F

    return F.cross_entropy(x, target, reduction=reduction)


@op(
    "nll_loss",
    forward=nll_loss_forward,
    backward=nll_loss_backward,
    examples=nll_loss_examples(),
    differentiable=("log_probs",),
)
def nll_loss_twin(log_probs, y, reduction):
    import torch.nn.functional as F

    return F.nll_loss(log_probs, y, reduction=reduction)


@op(
    "binary_cross_entropy",
    forward=binary_cross_entropy_forward,
    backward=binary_cross_entropy_backward,
    examples=binary_cross_entropy_examples(),
    differentiable=("p",),
)
def binary_cross_entropy_twin(p, target, reduction):
    import torch.nn.functional as F

    return F.binary_cross_entropy(p, target, reduction=reduction)


@op(
    "binary_cross_entropy_with_logits",
    forward=binary_cross_entropy_with_logits_forward,
    backward=binary_cross_entropy_with_logits_backward,
    examples=binary_cross_entropy_with_logits_examples(),
    differentiable=("x", "target"),
)
def binary_cross_entropy_with_logits_twin(x, target, reduction):
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(x, target, reduction=reduction)


@op(
    "multi_margin_loss",
    forward=multi_margin_loss_forward,
    backward=multi_margin_loss_backward,
    examples=multi_margin_loss_examples(),
    differentiable=("x",),
    kinks=HINGE,
)
def multi_margin_loss_twin(x, y, reduction):
    import torch.nn.functional as F

    return F.multi_margin_loss(x, y, reduction=reduction)


@op(
    "kl_div",
    forward=kl_div_forward,
    backward=kl_div_backward,
    examples=kl_div_examples(),
    differentiable=("log_q", "p"),
)
def kl_div_twin(log_q, p, reduction):
    import warnings

    import torch.nn.functional as F

    with warnings.catch_warnings():
        # 'mean' is tested on purpose: it is PyTorch's default, though not the divergence.
        warnings.filterwarnings("ignore", message="reduction: 'mean' divides the total loss")
        return F.kl_div(log_q, p, reduction=reduction)
