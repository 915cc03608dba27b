r"""Regression losses and the weight penalty. Each reduces by the mean over every element unless its
``reduction`` hyperparameter says otherwise, as in PyTorch."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gradproof.core import kinks
from gradproof.core import strategies as gs
from gradproof.core.registry import Example, op
from reference.losses import REDUCTIONS, _check_reduction, _reduce, _reduce_backward


def mse_loss_forward(pred, target, reduction="mean"):
    r"""Mean squared error, :math:`\ell_i = (\mathrm{pred}_i - \mathrm{target}_i)^2`.

    Parameters
    ----------
    pred : ndarray of any shape
    target : ndarray of pred's shape
    reduction : {'mean', 'sum', 'none'}
        ``'mean'`` averages over *every element*, not only over the batch, as
        ``torch.nn.functional.mse_loss`` does; ``'none'`` returns :math:`\ell` of pred's shape.

    Returns
    -------
    loss : float64 scalar, or ndarray of pred's shape for ``reduction='none'``
    cache : tuple
        ``(pred - target, reduction)``, for :func:`mse_loss_backward`.
    """
    _check_reduction(reduction)
    diff = pred - target
    return _reduce(diff**2, reduction), (diff, reduction)


def mse_loss_backward(dout, cache):
    r"""Gradients of the mean squared error.

    .. math:: d\mathrm{pred}_i = 2 (\mathrm{pred}_i - \mathrm{target}_i)\, \delta_i, \qquad
              d\mathrm{target} = -d\mathrm{pred}

    where :math:`\delta_i` is the upstream gradient of :math:`\ell_i` (``dout / size`` for the mean).

    Parameters
    ----------
    dout : float64 scalar, or ndarray of pred's shape for ``reduction='none'``
    cache : tuple from :func:`mse_loss_forward`

    Returns
    -------
    dpred : ndarray of pred's shape
    dtarget : ndarray of pred's shape
    """
    diff, reduction = cache
    dpred = 2.0 * diff * _reduce_backward(dout, diff.shape, reduction)
    return dpred, -dpred


@st.composite
def mse_loss_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    return Example(
        inputs={"pred": draw(gs.arrays(shape)), "target": draw(gs.arrays(shape))},
        hparams={"reduction": draw(st.sampled_from(REDUCTIONS))},
    )


@op(
    "mse_loss",
    forward=mse_loss_forward,
    backward=mse_loss_backward,
    examples=mse_loss_examples(),
    differentiable=("pred", "target"),
)
def mse_loss_twin(pred, target, reduction):
    import torch.nn.functional as F

    return F.mse_loss(pred, target, reduction=reduction)


def l1_loss_forward(pred, target, reduction="mean"):
    r"""Mean absolute error, :math:`\ell_i = |\mathrm{pred}_i - \mathrm{target}_i|`, as
    ``torch.nn.functional.l1_loss``.

    Parameters
    ----------
    pred : ndarray of any shape
    target : ndarray of pred's shape
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    loss : float64 scalar, or ndarray of pred's shape for ``reduction='none'``
    cache : tuple
        For :func:`l1_loss_backward`.
    """
    _check_reduction(reduction)
    diff = pred - target
    return _reduce(np.abs(diff), reduction), (diff, reduction)


def l1_loss_backward(dout, cache):
    r"""Gradients of the L1 loss: :math:`d\mathrm{pred} = \mathrm{sign}(\mathrm{pred} - \mathrm{target})`
    times the upstream gradient (0 where they are equal, as PyTorch), and
    :math:`d\mathrm{target} = -d\mathrm{pred}`.

    Returns
    -------
    dpred, dtarget : ndarray of pred's shape
    """
    diff, reduction = cache
    dpred = np.sign(diff) * _reduce_backward(dout, diff.shape, reduction)
    return dpred, -dpred


def huber_loss_forward(pred, target, reduction="mean", *, delta=1.0):
    r"""Huber loss, as ``torch.nn.functional.huber_loss``: quadratic near zero, linear beyond
    :math:`\delta`, with :math:`d = \mathrm{pred} - \mathrm{target}`:

    .. math:: \ell_i = \begin{cases} \tfrac12 d_i^2 & |d_i| < \delta \\
                                     \delta (|d_i| - \tfrac12 \delta) & \text{otherwise} \end{cases}

    Smooth L1 with parameter :math:`\beta` (``smooth_l1_loss``) is this divided by :math:`\beta`,
    with :math:`\delta = \beta`.

    Parameters
    ----------
    pred : ndarray of any shape
    target : ndarray of pred's shape
    reduction : {'mean', 'sum', 'none'}
    delta : float
        > 0.

    Returns
    -------
    loss : float64 scalar, or ndarray of pred's shape for ``reduction='none'``
    cache : tuple
        For :func:`huber_loss_backward`.
    """
    _check_reduction(reduction)
    diff = pred - target
    small = np.abs(diff) < delta
    losses = np.where(small, 0.5 * diff**2, delta * (np.abs(diff) - 0.5 * delta))
    return _reduce(losses, reduction), (diff, small, delta, reduction)


def huber_loss_backward(dout, cache):
    r"""Gradients of the Huber loss: :math:`d\mathrm{pred} = d` inside :math:`\delta`, else
    :math:`\delta\, \mathrm{sign}(d)`, times the upstream gradient; and
    :math:`d\mathrm{target} = -d\mathrm{pred}`.

    The loss is once differentiable at :math:`|d| = \delta` (its slope is continuous there), so
    there is no kink for finite differences to cross.

    Returns
    -------
    dpred, dtarget : ndarray of pred's shape
    """
    diff, small, delta, reduction = cache
    dpred = np.where(small, diff, delta * np.sign(diff)) * _reduce_backward(dout, diff.shape, reduction)
    return dpred, -dpred


def l2_penalty_forward(w, *, lam):
    r"""L2 weight penalty, :math:`\mathrm{out} = \tfrac12 \lambda \sum w^2`.

    Parameters
    ----------
    w : ndarray of any shape
    lam : float
        :math:`\lambda \ge 0`.

    Returns
    -------
    out : float64 scalar
    cache : tuple
        ``(w, lam)``, for :func:`l2_penalty_backward`.
    """
    return 0.5 * lam * np.sum(w**2), (w, lam)


def l2_penalty_backward(dout, cache):
    r"""Gradient of the L2 penalty: :math:`dw = \lambda w\, \mathrm{dout}`.

    Returns
    -------
    dw : ndarray of w's shape
    """
    w, lam = cache
    return lam * w * dout


@st.composite
def l1_loss_examples(draw):
    """Targets a margin away from the predictions: :math:`|x|` has its kink at 0."""
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    pred = draw(gs.arrays(shape))
    offset = draw(gs.arrays(shape, elements=gs.away_from((0.0,), margin=gs.margin_after_sums())))
    return Example(
        inputs={"pred": pred, "target": pred + offset},
        hparams={"reduction": draw(st.sampled_from(REDUCTIONS))},
    )


def half_distance_to_equal(example: Example) -> float:
    diff = example.inputs["pred"] - example.inputs["target"]
    return float(np.min(np.abs(diff)) / 2) if diff.size else np.inf


def onto_equal(example: Example, rng: np.random.Generator) -> Example:
    """Some targets set equal to their predictions."""
    pred, target = example.inputs["pred"], example.inputs["target"].copy()
    mask = kinks.some_elements(pred.shape, rng)
    target[mask] = pred[mask]
    return kinks.with_input(example, "target", target)


PRED_EQUALS_TARGET = kinks.Kinks(
    where="pred = target, where |pred - target| has its kink",
    distance=half_distance_to_equal,
    onto=onto_equal,
)
"""On it the L1 loss takes the subgradient sign(0) = 0, as PyTorch."""


@st.composite
def huber_loss_examples(draw):
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    return Example(
        inputs={"pred": draw(gs.arrays(shape)), "target": draw(gs.arrays(shape))},
        hparams={
            "reduction": draw(st.sampled_from(REDUCTIONS)),
            "delta": draw(gs.floats(min_value=0.1, max_value=3.0)),
        },
    )


@st.composite
def l2_penalty_examples(draw):
    w = draw(gs.shapes(min_dims=1, max_dims=4).flatmap(gs.arrays))
    return Example(inputs={"w": w}, hparams={"lam": draw(gs.floats(min_value=0.0, max_value=1.0))})


@op(
    "l1_loss",
    forward=l1_loss_forward,
    backward=l1_loss_backward,
    examples=l1_loss_examples(),
    differentiable=("pred", "target"),
    kinks=PRED_EQUALS_TARGET,
)
def l1_loss_twin(pred, target, reduction):
    import torch.nn.functional as F

    return F.l1_loss(pred, target, reduction=reduction)


@op(
    "huber_loss",
    forward=huber_loss_forward,
    backward=huber_loss_backward,
    examples=huber_loss_examples(),
    differentiable=("pred", "target"),
)
def huber_loss_twin(pred, target, reduction, *, delta):
    import torch.nn.functional as F

    return F.huber_loss(pred, target, reduction=reduction, delta=delta)


@op(
    "l2_penalty",
    forward=l2_penalty_forward,
    backward=l2_penalty_backward,
    examples=l2_penalty_examples(),
    differentiable=("w",),
)
def l2_penalty_twin(w, *, lam):
    return 0.5 * lam * (w**2).sum()
