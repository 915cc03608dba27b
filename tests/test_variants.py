"""Templates that changed shape over the years (cs231n's group-norm ``gamma``: ``(C,)`` until 2020,
``(1, C, 1, 1)`` from 2021): with the year only assumed, a candidate is graded on the shape it was
written for, with a note; with ``--convention``, on that year's alone."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from gradproof.core.registry import Example
from gradproof.grading import verdicts
from gradproof.grading.candidates import Candidate
from gradproof.grading.courses import cs231n_oracle, get_api
from gradproof.grading.executors import LocalExecutor
from gradproof.grading.session import Options, plan

GROUPNORM = """
import numpy as np


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    mean = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    xhat = ((xg - mean) / np.sqrt(var + eps)).reshape(N, C, H, W)
    g, b = RESHAPE(gamma), RESHAPE(beta)
    return g * xhat + b, (xhat, g, np.sqrt(var + eps), G, gamma.shape)


def spatial_groupnorm_backward(dout, cache):
    xhat, g, std, G, shape = cache
    N, C, H, W = dout.shape
    dgamma = (dout * xhat).sum(axis=(0, 2, 3)).reshape(shape)
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(shape)
    dxhat = (dout * g).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    m = xh.shape[2]
    dx = (dxhat - dxhat.mean(axis=2, keepdims=True) - xh * (dxhat * xh).mean(axis=2, keepdims=True)) / std
    return dx.reshape(N, C, H, W), dgamma, dbeta
"""
WRITTEN_FOR = {
    # A 2019 solution: gamma (C,), reshaped inside. A 2021 one: gamma (1, C, 1, 1), used as it is.
    "(C,)": GROUPNORM.replace("RESHAPE(gamma)", "gamma[None, :, None, None]").replace(
        "RESHAPE(beta)", "beta[None, :, None, None]"
    ),
    "(1, C, 1, 1)": GROUPNORM.replace("RESHAPE(gamma)", "gamma").replace("RESHAPE(beta)", "beta"),
}


def candidate(layout: str) -> types.ModuleType:
    module = types.ModuleType(f"groupnorm_{len(layout)}")
    exec(compile(WRITTEN_FOR[layout], "layers.py", "exec"), module.__dict__)
    return module


@pytest.fixture
def layers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(layout: str):
        Path("layers.py").write_text(WRITTEN_FOR[layout])
        return candidate(layout)

    return write


def settled(module, conventions=()):
    grade = plan(Candidate("student", "path", "layers.py"), Options(api="cs231n", conventions=conventions))
    (op,) = [op for op in grade.ops if op.unit == "spatial_groupnorm"]
    op.executor = LocalExecutor(module)
    op.settle()
    return op


@pytest.mark.parametrize("layout", ["(C,)", "(1, C, 1, 1)"])
def test_a_solution_of_either_year_is_graded_on_its_shape_with_a_note(layers, layout):
    op = settled(layers(layout))
    assert op.binding.variant.describe == f"gamma and beta of shape {layout}"
    if layout == "(C,)":  # the assumed year's (2019): nothing to say
        assert op.notes == {}
    else:
        assert op.notes["variant"].startswith(
            "written for gamma and beta of shape (1, C, 1, 1), not gamma and beta of shape (C,) as in "
            "cs231n-2019 (assumed): graded that way, without deduction"
        )

    @settings(max_examples=15, database=None, derandomize=True)
    @given(example=op.binding.examples)
    def passes(example: Example):
        gamma = np.shape(example.inputs["gamma"])
        assert len(gamma) == (1 if layout == "(C,)" else 4)
        verdicts.check_forward(op, example, seed=0)
        verdicts.check_backward(op, example, seed=0)

    passes()


def test_a_chosen_year_grades_its_own_shape_only(layers):
    op = settled(layers("(1, C, 1, 1)"), conventions=("cs231n-2019",))
    assert op.binding.variant.describe == "gamma and beta of shape (C,)"
    assert op.notes == {}
    with pytest.raises(ValueError, match="could not be broadcast"):  # raised as is in this process
        verdicts.check_forward(op, op.binding.variant.probe, seed=0)
    assert settled(layers("(1, C, 1, 1)"), conventions=("cs231n-2021",)).notes == {}


def test_a_wrong_solution_is_graded_on_the_assumed_years_shape(layers):
    wrong = layers("(C,)")
    wrong.spatial_groupnorm_forward = lambda x, gamma, beta, G, gn_param: (x, None)
    op = settled(wrong)
    assert op.binding.variant.describe == "gamma and beta of shape (C,)"
    assert op.notes == {}


def test_every_years_rules_are_said_and_told_apart():
    years = {y: cs231n_oracle.convention(f"cs231n-{y}") for y in (2016, 2017, 2019, 2021)}
    assert len({year.rules for year in years.values()}) == 4
    assert years[2019].groupnorm_gamma == "(C,)"
    assert years[2021].groupnorm_gamma == "(1, C, 1, 1)"
    assert years[2016].adam_first_t == 0
    assert years[2017].adam_first_t == 1
    assert not years[2016].asks_for("layernorm")
    assert years[2019].asks_for("spatial_groupnorm")
    assert [y.name for y in years[2019].others("spatial_groupnorm")] == ["cs231n-2021"]
    assert get_api("cs231n").for_convention(get_api("cs231n").bindings[0], years[2019])[0].op == "affine"
