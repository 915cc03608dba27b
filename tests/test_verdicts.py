"""The grading checks in this process, on fixed hand-written examples: each planted bug is caught by the
right check with the right message, and the course's oracle, graded as a candidate on the very same
example, passes that check (so no catching test here could pass by failing everything).

The planted files are our own: their definitions are loaded here as the worker loads them, and their
functions run through a :class:`LocalExecutor` on the arguments themselves (``copy=False``), so that
what a call does to its inputs is seen by the contracts check as it is through a worker.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gradproof.core.checks import check_contracts, check_gradients
from gradproof.core.registry import Example
from gradproof.grading import verdicts
from gradproof.grading.candidates import Candidate
from gradproof.grading.courses import cs231n_oracle, get_api
from gradproof.grading.executors import LocalExecutor
from gradproof.grading.shapes import ShapePolicy
from gradproof.grading.units import GradedOp, GradedOptimizer
from tests.inprocess import CANDIDATES, load_planted

SEED = 1
YEAR_2019 = get_api("cs231n").choose_convention([])
YEAR_2017 = cs231n_oracle.convention("cs231n-2017")
ORACLE = "oracle"
"""The candidate name of the API's own oracle, graded as a candidate."""
MISBEHAVING = "misbehaving"
"""Two functions of tests/candidates/misbehaving.py, written here: loading that file in this process
would run its ``np.allclose = ...`` (the loader keeps an assignment that names ``np``)."""
MISBEHAVING_SOURCE = """
import numpy as np


def softplus_forward(x, *, beta=1.0, threshold=20.0):
    np.log1p(np.exp(x), out=x)  # in place: overwrites the caller's array
    return x.copy(), x


def softplus_backward(dout, cache):
    return dout


def affine_forward(x, w, b):
    return (x.reshape(x.shape[0], -1) @ w + b).T, (x, w)  # transposed


def affine_backward(dout, cache):
    x, w = cache
    return (dout.T @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout.T, dout.sum(axis=1)
"""


@functools.cache
def module(api: str, name: str):
    """The candidate ``name`` (a file of tests/candidates, or of the repository), or the API's oracle."""
    if name == ORACLE:
        return get_api(api).oracle_module(YEAR_2019)
    if name == MISBEHAVING:
        written = types.ModuleType(MISBEHAVING)
        exec(compile(MISBEHAVING_SOURCE, "misbehaving.py", "exec"), written.__dict__)
        return written
    path = CANDIDATES / name
    if not path.exists():
        path = Path(__file__).parent.parent / name
    return load_planted(path, f"gradproof_test_{api}_{Path(name).stem}")


def graded_op(api_name: str, name: str, op: str, *, convention=None, strict: bool = False) -> GradedOp:
    api = get_api(api_name)
    binding = next(b for b in api.bindings if b.op == op)
    if convention is None and api.convention is not None and op in YEAR_2019.affects:
        convention = YEAR_2019
    return GradedOp(
        Candidate(Path(name).stem, "path", name),
        api,
        binding,
        LocalExecutor(module(api_name, name), copy=False),
        frozenset(binding.functions),
        convention,
        ShapePolicy(strict),
    )


def run(check: str, graded: GradedOp, example: Example) -> None:
    __tracebackhide__ = True
    if check == "forward":
        verdicts.check_forward(graded, example, seed=SEED)
    elif check == "backward":
        verdicts.check_backward(graded, example, seed=SEED)
    elif check == "gradients":
        check_gradients(graded.spec, example, seed=SEED)
    else:
        check_contracts(graded.spec, example, seed=SEED)


# -- fixed examples, in each API's own names ---------------------------------------------------------


def normal(seed: int, *shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def affine() -> Example:
    return Example({"x": normal(0, 2, 3), "w": normal(1, 3, 4), "b": normal(2, 4)})


def cs231n_conv(stride: int) -> Example:
    # (H + 2 pad - HH) % stride == 0, as the template asserts: (5 + 2 - 3) % 2 == 0.
    return Example(
        {"x": normal(3, 1, 2, 5, 5), "w": normal(4, 2, 2, 3, 3), "b": normal(5, 2)},
        {"stride": stride, "pad": 1},
    )


def softmax_loss() -> Example:
    return Example({"x": normal(6, 3, 4), "y": np.array([0, 3, 1])})


def batchnorm(mode: str, momentum: float) -> Example:
    return Example(
        {
            "x": normal(7, 4, 3),
            "gamma": normal(8, 3),
            "beta": normal(9, 3),
            "running_mean": normal(10, 3),
            "running_var": np.array([0.5, 1.0, 2.0]),
        },
        {"mode": mode, "momentum": momentum, "eps": 1e-5},
    )


def dropout(p: float) -> Example:
    # Away from zero: the grader reads the candidate's mask from where its output is 0.
    x = np.random.default_rng(11).uniform(0.5, 2.0, (4, 5)) * np.resize([1.0, -1.0], (4, 5))
    return Example({"x": x}, {"p": p, "mode": "train", "seed": 0})


def coursera_conv(pad: int) -> Example:
    return Example(
        {"A_prev": normal(12, 2, 4, 4, 3), "W": normal(13, 3, 3, 3, 2), "b": normal(14, 1, 1, 1, 2)},
        {"stride": 1, "pad": pad},
    )


def native_affine() -> Example:
    return Example({"x": normal(15, 1, 3), "w": normal(16, 3, 2), "b": normal(17, 2)})


def native_conv() -> Example:
    return Example(
        {"x": normal(18, 1, 2, 5, 5), "w": normal(19, 3, 2, 3, 3), "b": normal(20, 3)},
        {"stride": 2, "padding": 1},
    )


def softplus() -> Example:
    return Example({"x": normal(21, 2, 3)}, {"beta": 1.0, "threshold": 20.0})


# -- planted bugs and the check that must catch each -------------------------------------------------


@dataclass(frozen=True)
class Caught:
    id: str
    api: str
    candidate: str
    op: str
    example: Callable[[], Example]
    check: str
    message: str
    """A regular expression the failure's message must match."""


CAUGHT = [
    Caught(
        "affine forgot dout",
        "cs231n",
        "cs231n_bugs.py",
        "affine",
        affine,
        "backward",
        r"^your affine dx equals ones @ w.T, without dout: dx = dout @ w.T, reshaped to x's shape\n"
        r"affine dx: yours differs from reference[\s\S]*\n  "
        r"its backward also disagrees with finite differences of its own forward$",
    ),
    Caught(
        "affine forgot dout, against its own forward",
        "cs231n",
        "cs231n_bugs.py",
        "affine",
        affine,
        "gradients",
        r"^affine dx: backward differs from finite differences",
    ),
    Caught(
        "conv stride forgotten in the backward",
        "cs231n",
        "cs231n_bugs.py",
        "conv2d",
        lambda: cs231n_conv(2),
        "backward",
        r"^your conv2d dx equals the gradient with the stride ignored \(window \(i, j\) taken to start at "
        r"\(i, j\)\): [^\n]*\nconv2d dx: yours differs from reference[\s\S]*stride=2, pad=1",
    ),
    Caught(
        "softmax loss summed",
        "cs231n",
        "cs231n_bugs.py",
        "softmax_loss",
        softmax_loss,
        "forward",
        # Summed over a batch of 3 where the course averages: 3 times the reference, a relative error of 2.
        r"^your softmax_loss forward equals the loss summed over the batch: the loss is the mean over the N "
        r"examples: divide by N\n"
        r"softmax_loss forward: yours differs from reference[\s\S]*\(abs err [\d.]+, rel err 2\)[\s\S]*"
        r"your backward is consistent with your forward, but your forward is wrong$",
    ),
    Caught(
        "batchnorm PyTorch momentum",
        "cs231n",
        "cs231n_bugs.py",
        "batchnorm",
        lambda: batchnorm("train", 0.9),
        "forward",
        r"^your batchnorm running_mean equals the running average with momentum and 1 - momentum swapped: "
        r"[^\n]*\nbatchnorm running_mean: yours differs from reference",
    ),
    Caught(
        "batchnorm backward without the mean terms",
        "cs231n",
        "cs231n_bugs.py",
        "batchnorm",
        lambda: batchnorm("train", 0.9),
        "backward",
        r"^your batchnorm dx equals the correct dx without the two mean terms \(dx = dxhat / std\): the "
        r"gradient also flows through the batch mean and variance[^\n]*\n"
        r"batchnorm dx: yours differs from reference[\s\S]*mode='train'",
    ),
    Caught(
        "dropout not inverted",
        "cs231n",
        "cs231n_bugs.py",
        "dropout",
        lambda: dropout(0.5),
        "forward",
        r"^your dropout forward equals dropout without the inversion: [^\n]*\n"
        r"dropout forward: yours differs from reference[\s\S]*convention cs231n-2019 \(assumed\)",
    ),
    Caught(
        "dropout p of the 2017 assignment",
        "cs231n",
        "wild/cs231n_2017.py",
        "dropout",
        lambda: dropout(0.25),
        "forward",
        r"^dropout: your p is the probability of dropping a unit, as in cs231n-2017, not cs231n-2019: grade "
        r"with --convention cs231n-2017 if that is your assignment's\n"
        r"dropout forward: kept 7\d\.\d% of 20000 units with p = 0\.25, expected 25% \+- 2\.3%",
    ),
    Caught(
        "a template's zeros left in affine dw",
        "cs231n",
        "wild/half_finished.py",
        "affine",
        affine,
        "backward",
        r"^affine dw: returns all zeros \(not implemented yet\?\) where the reference's is not\n"
        r"affine dw: yours",
    ),
    Caught(
        "coursera db counts positions",
        "coursera",
        "coursera_bugs.py",
        "conv2d",
        lambda: coursera_conv(1),
        "backward",
        r"^your conv2d db equals the reference's for an upstream gradient of ones: your backward does not "
        r"use dout \(it differentiates the sum of the outputs\)\n"
        r"conv2d db: yours differs from reference[\s\S]*coursera API: conv_forward / conv_backward",
    ),
    Caught(
        "coursera [pad:-pad] at pad 0",
        "coursera",
        "pad_slicing_bug.py",
        "conv2d",
        lambda: coursera_conv(0),
        "backward",
        r"^your conv2d dA_prev equals the padded gradient cropped as dA_prev_pad\[pad:-pad, pad:-pad, :\]: "
        r"at pad = 0 that slice is empty[^\n]*\n"
        r"conv2d dA_prev: yours has shape \(2, 0, 0, 3\), expected shape \(2, 4, 4, 3\)\n[\s\S]*pad=0",
    ),
    Caught(
        "native affine transposed",
        "native",
        MISBEHAVING,
        "affine",
        native_affine,
        "forward",
        r"^your affine forward is the transpose of the reference \(shape \(1, 2\)\)\n"
        r"affine forward: yours has shape \(2, 1\), expected shape \(1, 2\)",
    ),
    Caught(
        "native affine transposed, backward not judged",
        "native",
        MISBEHAVING,
        "affine",
        native_affine,
        "backward",
        r"^affine forward: returned shape \(2, 1\), expected \(1, 2\); the backward cannot be judged",
    ),
    Caught(
        "native softplus in place",
        "native",
        MISBEHAVING,
        "softplus",
        softplus,
        "contracts",
        r"^softplus forward: mutated its input x\n",
    ),
]


@pytest.mark.parametrize("case", CAUGHT, ids=[case.id for case in CAUGHT])
def test_a_planted_bug_is_caught_by_its_check(case):
    with pytest.raises(AssertionError) as failure:
        run(case.check, graded_op(case.api, case.candidate, case.op), case.example())
    assert re.search(case.message, str(failure.value)), str(failure.value)


@pytest.mark.parametrize("case", CAUGHT, ids=[case.id for case in CAUGHT])
def test_the_oracle_passes_the_same_check_on_the_same_example(case):
    run(case.check, graded_op(case.api, ORACLE, case.op), case.example())


# -- what a bug does not break passes ----------------------------------------------------------------

PASSES = [
    # Each bug is in one place: the checks that look elsewhere pass it.
    ("cs231n", "cs231n_bugs.py", "affine", affine, "forward"),
    ("cs231n", "cs231n_bugs.py", "affine", affine, "contracts"),
    ("cs231n", "cs231n_bugs.py", "conv2d", lambda: cs231n_conv(2), "forward"),
    ("cs231n", "cs231n_bugs.py", "conv2d", lambda: cs231n_conv(1), "backward"),  # stride 1 hides it
    ("cs231n", "cs231n_bugs.py", "batchnorm", lambda: batchnorm("train", 0.5), "forward"),  # both agree
    ("cs231n", "cs231n_bugs.py", "batchnorm", lambda: batchnorm("test", 0.9), "backward"),  # no mean terms
    ("cs231n", "wild/cs231n_2017.py", "dropout", lambda: dropout(0.5), "forward"),  # 0.5 either way
    ("coursera", "coursera_bugs.py", "conv2d", lambda: coursera_conv(1), "forward"),
    ("coursera", "pad_slicing_bug.py", "conv2d", lambda: coursera_conv(1), "backward"),
    ("native", MISBEHAVING, "softplus", softplus, "forward"),  # right values; only the contract sees it
]

CORRECT = [
    (api, candidate, op, example, check)
    for api, candidate, op, example in [
        ("cs231n", ORACLE, "affine", affine),
        ("cs231n", ORACLE, "conv2d", lambda: cs231n_conv(2)),
        ("cs231n", ORACLE, "batchnorm", lambda: batchnorm("train", 0.9)),
        ("cs231n", "wild/batchnorm_keepdims.py", "batchnorm", lambda: batchnorm("train", 0.9)),
        ("coursera", ORACLE, "conv2d", lambda: coursera_conv(0)),
        ("native", "candidates/naive.py", "affine", native_affine),
        ("native", "candidates/naive.py", "conv2d", native_conv),
    ]
    for check in ("forward", "backward", "gradients", "contracts")
]


@pytest.mark.parametrize(
    ("api", "candidate", "op", "example", "check"),
    PASSES + CORRECT,
    ids=[f"{c}-{op}-{check}" for _, c, op, _, check in PASSES + CORRECT],
)
def test_a_correct_part_passes(api, candidate, op, example, check):
    run(check, graded_op(api, candidate, op), example())


# -- shapes and conventions through the checks ------------------------------------------------------


def test_a_keepdims_batchnorm_passes_with_warnings_or_fails_when_strict():
    lenient = graded_op("cs231n", "wild/batchnorm_keepdims.py", "batchnorm")
    verdicts.check_forward(lenient, batchnorm("train", 0.9), seed=SEED)
    verdicts.check_backward(lenient, batchnorm("train", 0.9), seed=SEED)
    assert set(lenient.shapes.warnings) == {
        "batchnorm running_mean",
        "batchnorm running_var",
        "batchnorm dgamma",
        "batchnorm dbeta",
    }
    assert lenient.shapes.warnings["batchnorm dgamma"] == (
        "batchnorm dgamma: returns (1, D); the template asks for (D,) (here (1, 3) for (3,))"
    )
    strict = graded_op("cs231n", "wild/batchnorm_keepdims.py", "batchnorm", strict=True)
    with pytest.raises(
        AssertionError, match=r"^batchnorm running_mean: returns \(1, D\).*\(--strict-shapes\)\n"
    ):
        verdicts.check_forward(strict, batchnorm("train", 0.9), seed=SEED)
    with pytest.raises(
        AssertionError, match=r"^batchnorm backward: batchnorm dgamma: .*\(--strict-shapes\)\n"
    ):
        verdicts.check_backward(strict, batchnorm("train", 0.9), seed=SEED)
    assert strict.shapes.warnings == {}


def test_dropout_is_graded_by_the_year_asked_for():
    year_2017 = graded_op("cs231n", "wild/cs231n_2017.py", "dropout", convention=YEAR_2017)
    verdicts.check_forward(year_2017, dropout(0.25), seed=SEED)
    verdicts.check_backward(year_2017, dropout(0.25), seed=SEED)


# -- optimizers --------------------------------------------------------------------------------------


def graded_optimizer(name: str, optimizer: str, convention=YEAR_2019, *, oracle_year=None) -> GradedOptimizer:
    """``optimizer`` of candidate ``name`` graded against ``convention``; the oracle as a candidate
    follows ``oracle_year`` (by default the year graded against)."""
    api = get_api("cs231n")
    binding = next(o for o in api.optimizers if o.name == optimizer)
    if name == ORACLE:
        candidate = cs231n_oracle.oracle(oracle_year or convention)
    else:
        candidate = module("cs231n", name)
    return GradedOptimizer(
        Candidate(Path(name).stem, "path", name),
        api,
        binding,
        LocalExecutor(candidate, copy=False),
        frozenset({binding.fn}),
        convention if optimizer in YEAR_2019.affects else None,
    )


def steps() -> tuple[np.ndarray, list[np.ndarray], dict]:
    return normal(22, 3), [normal(23 + i, 3) for i in range(3)], {"learning_rate": 1e-2}


@pytest.mark.parametrize(
    ("candidate", "optimizer", "message"),
    [
        (
            "cs231n_bugs.py",
            "adam",
            r"^your adam next_w equals Adam without bias correction \(m / \(sqrt\(v\) \+ epsilon\)\): "
            r"[^\n]*\n"
            r"adam next_w: yours differs from reference[\s\S]*after step 1$",
        ),
        (
            "cs231n_bugs.py",
            "sgd_momentum",
            r"^your sgd_momentum next_w equals momentum with the gradient's sign flipped [^\n]*\n"
            r"sgd_momentum next_w: yours differs from reference[\s\S]*after step 1$",
        ),
        (
            "wild/cs231n_2017.py",
            "adam",
            r"^adam: matches the cs231n-2017 convention \(dropout p is the probability of dropping a unit, "
            r"Adam's t starts at 1\), not cs231n-2019's: grade with --convention cs231n-2017 if that is your "
            r"assignment's\nadam next_w: yours differs",
        ),
    ],
    ids=["adam no bias correction", "sgd_momentum sign flipped", "adam of 2017"],
)
def test_a_planted_optimizer_bug_is_caught_and_the_oracle_passes(candidate, optimizer, message):
    with pytest.raises(AssertionError) as failure:
        verdicts.check_optimizer(graded_optimizer(candidate, optimizer), *steps())
    assert re.search(message, str(failure.value)), str(failure.value)
    verdicts.check_optimizer(graded_optimizer(ORACLE, optimizer), *steps())


def test_an_optimizer_of_another_year_passes_under_its_convention():
    verdicts.check_optimizer(graded_optimizer("wild/cs231n_2017.py", "adam", YEAR_2017), *steps())
    verdicts.check_optimizer(graded_optimizer(ORACLE, "adam", YEAR_2017), *steps())
    # And the other way round: a 2019 Adam graded as 2017 is told which year it matches.
    with pytest.raises(AssertionError, match=r"^adam: matches the cs231n-2019 convention"):
        verdicts.check_optimizer(graded_optimizer(ORACLE, "adam", YEAR_2017, oracle_year=YEAR_2019), *steps())
