"""L-BFGS against torch.optim.LBFGS on a deterministic closure, with and without the strong-Wolfe
line search."""

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from gradproof.core import strategies as gs
from gradproof.core.compare import assert_close, tolerance_for
from reference.lbfgs import lbfgs_init, lbfgs_step


def rosenbrock(x):
    r""":math:`f(x) = \sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2` and its gradient."""
    a, b = x[1:] - x[:-1] ** 2, 1 - x[:-1]
    grad = np.zeros_like(x)
    grad[:-1] = -400 * x[:-1] * a - 2 * b
    grad[1:] += 200 * a
    return float(np.sum(100 * a**2 + b**2)), grad


def rosenbrock_torch(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


@st.composite
def lbfgs_runs(draw):
    # Few iterations, and Rosenbrock's curved valley, keep the run far from convergence: there the
    # line search compares losses equal to rounding, and two correct implementations may branch
    # apart on the last bit.
    line_search = draw(st.sampled_from([None, "strong_wolfe"]))
    hparams = {
        "lr": draw(
            gs.floats(min_value=0.5, max_value=1.0)
            if line_search
            else gs.floats(min_value=1e-3, max_value=0.05)
        ),
        "max_iter": draw(st.integers(1, 4)),
        "history_size": draw(st.integers(1, 6)),
        "line_search_fn": line_search,
    }
    x0 = draw(gs.arrays((draw(st.integers(2, 6)),), elements=gs.floats(min_value=-2.0, max_value=2.0)))
    return x0, hparams, draw(st.integers(1, 4))


@given(run=lbfgs_runs())
def test_lbfgs_trajectory_matches_torch(run):
    x0, hparams, steps = run
    param = torch.tensor(x0, requires_grad=True)
    twin = torch.optim.LBFGS([param], **hparams)

    def closure():
        twin.zero_grad()
        loss = rosenbrock_torch(param)
        loss.backward()
        return loss

    x, state = x0.copy(), lbfgs_init(x0)
    context = f"  x0 {x0.shape}; {hparams}"
    for step in range(1, steps + 1):
        x, state, loss = lbfgs_step(x, rosenbrock, state, **hparams)
        twin_loss = twin.step(closure)
        assert_close(
            np.float64(loss),
            np.float64(twin_loss.item()),
            tol=tolerance_for("oracle", np.float64),
            quantity=f"lbfgs loss at step {step}",
            expected_label="torch.optim",
            context=context,
        )
        assert_close(
            x,
            param.detach().numpy(),
            tol=tolerance_for("oracle", np.float64),
            quantity=f"lbfgs param after step {step}",
            expected_label="torch.optim",
            context=context,
        )
        twin_state = twin.state[param]
        assert (state["n_iter"], state["func_evals"]) == (twin_state["n_iter"], twin_state["func_evals"]), (
            f"lbfgs after step {step}: {state['n_iter']} iterations and {state['func_evals']} evaluations, "
            f"torch.optim {twin_state['n_iter']} and {twin_state['func_evals']}\n{context}"
        )
