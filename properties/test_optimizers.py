"""Optimizer properties, each written once and run over every registered optimizer."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import registry
from gradproof.core import strategies as gs
from gradproof.core.optim_checks import check_step_is_pure, check_trajectory, init_state
from reference.optim import adam_init, adam_step, sgd_init, sgd_step

MAX_STEPS = 20


STEP_APART = 0.1
"""Every coordinate of each gradient differs from the previous one (and the first from 0) by at
least this much. Centered RMSProp estimates the variance as E[g^2] - E[g]^2; for a gradient that
does not move it is a difference of equal numbers, and the update g / (sqrt(var) + eps) is rounding
noise times 1/eps (Hypothesis found torch's FMA and NumPy's two roundings 35% apart)."""


@st.composite
def trajectories(draw):
    """A parameter and a sequence of up to MAX_STEPS gradients of its shape, each a random walk
    step from the last (see STEP_APART)."""
    shape = draw(gs.shapes(min_dims=1, max_dims=3))
    param = draw(gs.arrays(shape))
    steps = draw(st.integers(1, MAX_STEPS))
    moves = [
        draw(
            gs.arrays(shape, elements=gs.away_from((0.0,), margin=STEP_APART, min_value=-2.0, max_value=2.0))
        )
        for _ in range(steps)
    ]
    return param, list(np.cumsum(moves, axis=0))


@given(data=st.data())
def test_trajectory_matches_torch_optim(optimizer_spec, data):
    param, grads = data.draw(trajectories(), label="param and gradients")
    hparams = data.draw(optimizer_spec.hparams, label="hyperparameters")
    check_trajectory(optimizer_spec, param, grads, hparams)


@given(data=st.data())
def test_step_never_mutates_or_shares_its_arguments(optimizer_spec, data):
    param, grads = data.draw(trajectories(), label="param and gradients")
    hparams = data.draw(optimizer_spec.hparams, label="hyperparameters")
    check_step_is_pure(optimizer_spec, param, grads, hparams)


INVALID = [(spec, case) for spec in registry.all_optimizers() for case in spec.invalid]


@pytest.mark.parametrize(("spec", "case"), INVALID, ids=[f"{s.name}-{next(iter(c))}" for s, c in INVALID])
def test_invalid_hyperparameter_raises_a_value_error_naming_it(spec, case):
    hparams = {**_valid(spec), **case}
    param = np.ones(3)
    state = init_state(
        spec, param, {**_valid(spec), **{k: v for k, v in case.items() if k in spec.init_hparams}}
    )
    with pytest.raises(ValueError, match=next(iter(case))):
        spec.step(param, np.ones(3), state, **hparams)


def _valid(spec):
    """Hypothesis's simplest valid hyperparameters for the spec (its shrink target)."""
    from hypothesis import find

    return find(spec.hparams, lambda _: True)


@given(
    param=gs.shapes().flatmap(gs.arrays),
    lr=gs.floats(min_value=1e-4, max_value=1.0),
    momentum=gs.floats(min_value=0.0, max_value=0.99),
)
def test_zero_gradients_leave_sgd_where_it_is(param, lr, momentum):
    state = sgd_init(param)
    new, _ = sgd_step(param, np.zeros_like(param), state, lr=lr, momentum=momentum)
    np.testing.assert_array_equal(new, param)


@given(param=gs.shapes().flatmap(gs.arrays), grad=st.data(), lr=gs.floats(min_value=1e-4, max_value=1.0))
def test_adams_first_step_moves_each_coordinate_by_lr(param, grad, lr):
    # m_1 / (1 - beta1) = g and sqrt(v_1 / (1 - beta2)) = |g|: the first step is lr * g / (|g| + eps).
    g = grad.draw(gs.arrays(param.shape, elements=gs.away_from((0.0,), margin=1e-2)), label="grad")
    new, _ = adam_step(param, g, adam_init(param), lr=lr)
    # new - param recovers the step only to the rounding of new, a few ulps of param.
    np.testing.assert_allclose(
        np.abs(new - param),
        lr * np.abs(g) / (np.abs(g) + 1e-8),
        rtol=1e-12,
        atol=4 * np.spacing(np.max(np.abs(param))),
    )


# Behaviour on a strictly convex quadratic f(x) = 1/2 (x - x*)' A (x - x*), eigenvalues of A in
# [MU, L]. Each optimizer gets learning rates from a range where it must converge; the bound is
# f_K <= SHRINK * f_0 + 1/2 L d s^2, s the largest step it can take per coordinate: optimizers whose
# steps do not shrink with the gradient (RMSProp, Adam) end oscillating about x* at that scale.
# Measured over 300 random problems (starts at x* + 1e-4 included): SGD 5e-30 f_0, momentum 6e-16 f_0,
# AdaGrad 5e-31 f_0; RMSProp 0.47 lr^2 d and Adam 0.1 lr^2 d, 200 and 100 times inside the floor.
MU, L, STEPS, SHRINK = 0.5, 2.0, 2000, 1e-2
BEHAVIOUR = {
    # Plain gradient descent at lr <= 1/L contracts the error by (1 - lr MU) a step: a proven bound.
    "sgd": (st.fixed_dictionaries({"lr": gs.floats(min_value=0.05, max_value=1 / L)}), lambda h: 0.0),
    "sgd_momentum": (
        st.fixed_dictionaries(
            {
                "lr": gs.floats(min_value=0.01, max_value=0.05),
                "momentum": gs.floats(min_value=0.1, max_value=0.9),
                "nesterov": st.booleans(),
            }
        ),
        lambda h: 0.0,
    ),
    "adagrad": (st.fixed_dictionaries({"lr": gs.floats(min_value=0.5, max_value=2.0)}), lambda h: h["lr"]),
    "rmsprop": (
        st.fixed_dictionaries({"lr": gs.floats(min_value=0.01, max_value=0.05)}),
        lambda h: h["lr"] / np.sqrt(1 - 0.99),
    ),
    "adam": (
        st.fixed_dictionaries({"lr": gs.floats(min_value=0.01, max_value=0.05), "amsgrad": st.booleans()}),
        lambda h: h["lr"] * 0.1 / np.sqrt(1 - 0.999),
    ),
    "adamw": (
        st.fixed_dictionaries(
            {"lr": gs.floats(min_value=0.01, max_value=0.05), "weight_decay": st.just(0.0)}
        ),
        lambda h: h["lr"] * 0.1 / np.sqrt(1 - 0.999),
    ),
}


@st.composite
def convex_quadratics(draw):
    d = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eigenvalues = draw(gs.arrays((d,), elements=gs.floats(min_value=MU, max_value=L)))
    target = draw(gs.arrays((d,), elements=gs.floats(min_value=-2.0, max_value=2.0)))
    start = draw(gs.arrays((d,)))
    return rotation @ np.diag(eigenvalues) @ rotation.T, target, start


@pytest.mark.parametrize("name", BEHAVIOUR)
@given(data=st.data())
def test_optimizer_converges_on_a_strictly_convex_quadratic(name, data):
    a, target, x = data.draw(convex_quadratics(), label="A, x*, x0")
    strategy, largest_step = BEHAVIOUR[name]
    hparams = data.draw(strategy, label="hyperparameters")
    spec = next(o for o in registry.all_optimizers() if o.name == name.split("_")[0])
    state = init_state(spec, x, hparams)

    def loss(point):
        return 0.5 * (point - target) @ a @ (point - target)

    start = loss(x)
    for _ in range(STEPS):
        x, state = spec.step(x, a @ (x - target), state, **hparams)
    bound = SHRINK * start + 0.5 * L * len(x) * largest_step(hparams) ** 2
    assert loss(x) <= bound, (
        f"{name} after {STEPS} steps: loss {loss(x):.3g} > bound {bound:.3g} (from {start:.3g})"
    )
