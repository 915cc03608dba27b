"""The tests that grade candidates, parametrised by gradproof's pytest plugin.

Each test carries a ``grade_check`` marker: the name of its check in the grade table, and
``needs_backward=True`` where ops with a forward only (``zero_pad``) are not parametrised into it.
Each test runs over (candidate, op) pairs (ids such as ``alice-conv2d``); ``pytest --candidate
PATH`` runs only these. The examples are derandomised, so every candidate of every run meets the
same examples. ``properties/test_candidates.py`` collects them in this repository; ``gradproof
grade`` collects this module directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradproof.core import checks
from gradproof.core import strategies as gs
from gradproof.grading import verdicts

GRADING = settings(
    derandomize=True,
    database=None,
    deadline=None,  # speed is the benchmarks' business
    # One failure per check, the first found, shrunk: a student fixes one thing at a time.
    report_multiple_bugs=False,
    # A slow candidate (Python loops) is what is being graded, not a problem of the strategy.
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.grade_check("import")
def test_candidate_imports(candidate_worker):
    """The candidate imports (in its own process) and defines at least one function of its API."""
    worker = candidate_worker
    worker.ensure_started()
    if worker.load_error is not None:
        raise AssertionError(
            f"{worker.candidate.name}: cannot import {worker.candidate.target}:\n{worker.load_error}"
        )


@pytest.mark.grade_check("forward")
@GRADING
@given(data=st.data())
def test_forward(graded_op, data):
    """Forward (and running statistics) equal the reference's."""
    graded_op.settle()
    example = data.draw(graded_op.binding.forward_examples, label=f"{graded_op.binding.op} example")
    verdicts.check_forward(graded_op, example, seed=data.draw(gs.seeds(), label="seed"))


@pytest.mark.grade_check("backward", needs_backward=True)
@GRADING
@given(data=st.data())
def test_backward(graded_op, data):
    """Backward equals the reference's for the same upstream gradient."""
    graded_op.settle()
    example = data.draw(graded_op.binding.oracle_examples, label=f"{graded_op.binding.op} example")
    verdicts.check_backward(graded_op, example, seed=data.draw(gs.seeds(), label="seed"))


@pytest.mark.grade_check("backward vs own forward", needs_backward=True)
@GRADING
@given(data=st.data())
def test_backward_matches_own_forward(graded_op, data):
    """Backward equals finite differences of the candidate's own forward."""
    graded_op.settle()
    graded_op.executor.reset()
    example = data.draw(graded_op.binding.examples, label=f"{graded_op.binding.op} example")
    verdicts.check_own_forward(graded_op, example, seed=data.draw(gs.seeds(), label="seed"))


@pytest.mark.grade_check("contracts")
@GRADING
@given(data=st.data())
def test_contracts(graded_op, data):
    """Shapes and dtypes, finite values, inputs left alone, the same result twice."""
    graded_op.settle()
    graded_op.executor.reset()
    example = data.draw(graded_op.binding.examples, label=f"{graded_op.binding.op} example")
    seed = data.draw(gs.seeds(), label="seed")
    checks.check_contracts(graded_op.spec, example, seed=seed, context=graded_op.context())


STEPS = 6


@pytest.mark.grade_check("trajectory")
@GRADING
@given(data=st.data())
def test_optimizer_trajectory(graded_optimizer, data):
    """Every step's parameter and state equal the reference's, from a config holding only the
    hyperparameters (the update must set up its own state)."""
    graded_optimizer.executor.reset()
    shape = data.draw(gs.shapes(min_dims=1, max_dims=2), label="shape")
    w = data.draw(gs.arrays(shape), label="w")
    steps = data.draw(st.integers(1, STEPS), label="steps")
    grads = [data.draw(gs.arrays(shape), label=f"dw {step}") for step in range(1, steps + 1)]
    config = data.draw(graded_optimizer.binding.configs, label="config")
    verdicts.check_optimizer(graded_optimizer, np.asarray(w), grads, config)
