"""The grading checks in this process, on fixed hand-written examples: each planted bug is caught by the
right check with the right message, and the course's oracle, graded as a candidate on the very same
example, passes that check (so no catching test here could pass by failing everything).

The planted files are our own: their definitions are loaded here as the worker loads them, and their
functions run through a :class:`LocalExecutor` on the arguments themselves (``copy=False``), so that
what a call does to its inputs is seen by the contracts check as it is through a worker.
"""

from __future__ import annotations

import ast
import functools
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gradproof.core.checks import check_contracts
from gradproof.core.registry import Example
from gradproof.grading import verdicts
from gradproof.grading.candidates import Candidate, declared, from_spec, placeholder_returns
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
    graded = GradedOp(
        Candidate(Path(name).stem, "path", name),
        api,
        binding,
        LocalExecutor(module(api_name, name), copy=False),
        frozenset(binding.functions),
        convention,
        ShapePolicy(strict),
    )
    if (CANDIDATES / name).is_file():  # what the session reads from the source
        graded.placeholders = declared(from_spec(str(CANDIDATES / name))).placeholders
    return graded


def run(check: str, graded: GradedOp, example: Example) -> None:
    __tracebackhide__ = True
    if check == "forward":
        verdicts.check_forward(graded, example, seed=SEED)
    elif check == "backward":
        verdicts.check_backward(graded, example, seed=SEED)
    elif check == "gradients":
        verdicts.check_own_forward(graded, example, seed=SEED)
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
        # Both 2016-17 assignments drop with probability p; 2016's is otherwise 2019's (Adam's t from 0).
        r"^dropout: your p is the probability of dropping a unit, as in cs231n-2016, cs231n-2017, not "
        r"cs231n-2019: grade with --convention cs231n-2016 if that is your assignment's\n"
        r"dropout forward: kept 7\d\.\d% of 20000 units with p = 0\.25, expected 25% \+- 2\.3%",
    ),
    Caught(
        "a template's zeros left in affine dw",
        "cs231n",
        "wild/half_finished.py",
        "affine",
        affine,
        "backward",
        r"^affine dw: returns all zeros: affine_backward never computes it \(the template's placeholder is "
        r"left as it was: not implemented yet\)\n"
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
        "native affine transposed, own forward: no cotangent of its shape is built",
        "native",
        MISBEHAVING,
        "affine",
        native_affine,
        "gradients",
        r"^affine forward: returned shape \(2, 1\), expected \(1, 2\); the backward cannot be judged against "
        r"a forward of another shape",
    ),
    Caught(
        "native softplus in place",
        "native",
        MISBEHAVING,
        "softplus",
        softplus,
        "contracts",
        r"^softplus forward: mutated its input x: the caller's array is changed\n",
    ),
    # Issue 14's bug classes (tests/candidates/bugs14/), each watched passing before it was caught.
    Caught(
        "batchnorm backward centres the cached x in place",
        "cs231n",
        "bugs14/inplace_cached_x.py",
        "batchnorm",
        lambda: batchnorm("train", 0.9),
        "contracts",
        r"^batchnorm backward: mutated its input x \(the forward's, reached through the cache\): the "
        r"caller's array is changed\n",
    ),
    Caught(
        "relu backward writes into dout",
        "cs231n",
        "bugs14/inplace_dout_relu.py",
        "relu",
        lambda: Example({"x": normal(9, 3, 4)}),
        "contracts",
        r"^relu backward: mutated its upstream gradient dout\n",
    ),
    Caught(
        "softmax without the row maximum",
        "cs231n",
        "bugs14/softmax_no_max.py",
        "softmax_loss",
        softmax_loss,
        "forward",
        r"^softmax_loss: overflows \(NaN or inf\) for logits of magnitude 800: subtract each row's maximum "
        r"from x before np.exp",
    ),
    Caught(
        "2017 dropout not inverted",
        "cs231n",
        "bugs14/dropout_2017_not_inverted.py",
        "dropout",
        lambda: dropout(0.25),
        "forward",
        r"^dropout: your p is the probability of dropping a unit, as in cs231n-2016, cs231n-2017, not "
        r"cs231n-2019, and it does not scale the units it keeps by 1 / 0\.75 either \(inverted dropout\), so "
        r"no year's convention accepts it\n",
    ),
    Caught(
        "native softmax without the row maximum",
        "native",
        "bugs14/native_unstable_softmax.py",
        "softmax",
        lambda: Example({"x": normal(10, 2, 5)}, {"axis": -1}),
        "forward",
        r"^softmax: overflows \(NaN or inf\) for inputs of magnitude 800: subtract each row's maximum",
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
    # 1 / (1 + exp(-x)) is 0 at x = -800, which is right: only an overflow to NaN is named.
    (
        "native",
        "bugs14/native_unstable_softmax.py",
        "sigmoid",
        lambda: Example({"x": normal(11, 3)}),
        "forward",
    ),
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
            r"^adam: matches the convention of cs231n-2017 \(Adam's t starts at 1\), not cs231n-2019's: "
            r"grade with --convention cs231n-2017 if that is your assignment's\nadam next_w: yours differs",
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
    # (2016, 2019 and 2021 start t at 0; 2016 is named first, as otherwise 2017's: dropout drops.)
    matches = r"^adam: matches the convention of cs231n-2016, cs231n-2019, cs231n-2021"
    with pytest.raises(AssertionError, match=matches):
        verdicts.check_optimizer(graded_optimizer(ORACLE, "adam", YEAR_2017, oracle_year=YEAR_2019), *steps())


def test_all_zeros_is_called_unfinished_only_where_the_code_never_computes_it():
    """half_finished.py's affine_backward leaves the template's dw = np.zeros_like(w) and computes dx."""
    graded = graded_op("cs231n", "wild/half_finished.py", "affine")
    zeros, ones = np.zeros(3), np.ones(3)
    assert "never computes it" in verdicts._zeros(graded, "affine_backward", 1, "affine dw", zeros, ones)
    computed = verdicts._zeros(graded, "affine_backward", 0, "affine dx", zeros, ones)
    assert computed == "affine dx: returns all zeros where the reference's is not\n"
    assert verdicts._zeros(graded, "affine_backward", 1, "affine dw", zeros, zeros) == ""


@pytest.mark.parametrize(
    ("body", "positions"),
    [
        ("dx, dw = None, None\n    return dx, dw", (0, 1)),
        ("dx = np.zeros_like(x)\n    dx[x > 0] = 1\n    return dx, None", (1,)),
        ("dx = np.zeros_like(x)\n    np.add.at(dx, 0, 1)\n    return dx", ()),
        ("dx, dw = grads(x)\n    return dx, dw", ()),
        ("dx = np.zeros_like(x)\n    dx += 1\n    return (dx,)", ()),
        ("out = np.zeros_like(x)\n    for out in x:\n        pass\n    return out", ()),
    ],
)
def test_placeholders_are_what_a_function_never_computes(body, positions):
    function = ast.parse(f"def f(x):\n    {body}\n").body[0]
    assert placeholder_returns(function) == positions


def test_relu_at_its_kink_is_a_note_unless_strict():
    """`x >= 0` passes dout where x is exactly 0: a subgradient, not an error (cs231n's template has
    `x > 0`); the comparison examples put some inputs at 0 to see it."""
    example = Example({"x": np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])})
    graded = graded_op("cs231n", "bugs14/relu_ge.py", "relu")
    verdicts.check_backward(graded, example, seed=SEED)
    (note,) = graded.notes.values()
    assert note.startswith(
        "relu dx: differs only at x == 0, the kink, where the gradient is a convention, not a derivative: "
        "your backward passes all of dout there (as `x >= 0` does)"
    )
    assert note.endswith("Here 2 of 6 inputs are 0")
    strict = graded_op("cs231n", "bugs14/relu_ge.py", "relu")
    strict.strict_ties = True
    with pytest.raises(AssertionError, match=r"\(deducted under --strict-ties\)"):
        verdicts.check_backward(strict, example, seed=SEED)
    oracle = graded_op("cs231n", ORACLE, "relu")
    verdicts.check_backward(oracle, example, seed=SEED)
    assert oracle.notes == {}
