"""A grading session: the candidates of one run and the units each is graded on.

The session is planned when pytest first asks which units to parametrise its grading tests over,
from the candidates' sources alone (:func:`~gradproof.grading.candidates.declared`): no code of a
candidate runs at collection. Each candidate's worker process starts at the first call a grading
test makes into it.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

from gradproof.core import registry
from gradproof.grading import numpy_env
from gradproof.grading.binding import Api
from gradproof.grading.candidates import Candidate, declared
from gradproof.grading.courses import detect, get_api
from gradproof.grading.executors import WorkerExecutor
from gradproof.grading.process import DEFAULT_TIMEOUT, Worker
from gradproof.grading.scoreboard import Outcome, Scoreboard
from gradproof.grading.shapes import ShapePolicy
from gradproof.grading.units import GradedOp, GradedOptimizer


@dataclass(frozen=True)
class Options:
    """How a run grades: the options of ``pytest --candidate`` and ``gradproof grade``."""

    api: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    points: dict = field(default_factory=dict)
    conventions: tuple[str, ...] = ()
    strict_shapes: bool = False
    strict_ties: bool = False
    require_sandbox: bool = False
    numpy: str | None = None
    """The NumPy release the workers import (:mod:`gradproof.grading.numpy_env`); None: the grader's."""


@dataclass
class CandidateGrade:
    """One candidate: its worker, its API and the units it is graded on, and their outcomes."""

    candidate: Candidate
    worker: Worker
    api: Api | None = None
    api_reason: str = ""
    convention: object = None
    """The course year graded against, for an API whose conventions changed (cs231n)."""
    ops: list[GradedOp] = field(default_factory=list)
    optimizers: list[GradedOptimizer] = field(default_factory=list)
    not_implemented: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    """Units of the assignment the candidate does not implement, counted in its grade (those of a
    template file it implements some of: :meth:`Api.required`) -> why they score 0."""
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    """Unit (op or optimizer name, or "import") -> its checks' outcomes."""


def plan(candidate: Candidate, options: Options) -> CandidateGrade:
    """What ``candidate`` is graded on, read from its source; its worker is made, not started."""
    found = declared(candidate)
    if options.api is not None:
        api, api_reason = get_api(options.api), "chosen with --candidate-api"
    else:
        api = detect(found.names, found.params)
        api_reason = "detected from its function names; --candidate-api overrides"
    # A course's assignment is NumPy: its workers import nothing else (torch's autograd, say). The
    # native API's candidates may (the shipped torch_backend does).
    worker = Worker(
        candidate,
        timeout=options.timeout,
        packages=api.name == "native",
        require_sandbox=options.require_sandbox,
        numpy=_numpy(options, api),
    )
    grade = CandidateGrade(candidate, worker, api, api_reason)
    # What the candidate wrote itself is graded; what it imports (a reference it leans on) is not.
    bindings, missing = grade.api.implemented(found.names)
    optimizers, missing_optimizers = grade.api.implemented_optimizers(found.names)
    # A course year matters to the units it changes (cs231n: dropout and Adam), and is said in the
    # report only for a candidate that has one of them.
    year = grade.api.choose_convention(list(options.conventions))
    affected = set(year.affects) if year is not None else set()
    executor = WorkerExecutor(worker)
    grade.ops = []
    for b in bindings:
        # A template that changed shape over the years: the year's, or (where the year is only
        # assumed) whichever the candidate was written for (GradedOp.settle).
        binding, *others = grade.api.for_convention(b, year if b.op in affected else None)
        graded = GradedOp(
            candidate,
            grade.api,
            binding,
            executor,
            found.names,
            year if b.op in affected else None,
            ShapePolicy(options.strict_shapes),
            options.strict_ties,
        )
        graded.alternatives = tuple(others) if year is not None and year.assumed else ()
        graded.placeholders = found.placeholders
        grade.ops.append(graded)
    grade.optimizers = [
        GradedOptimizer(candidate, grade.api, o, executor, found.names, year if o.name in affected else None)
        for o in optimizers
    ]
    units = {b.op for b in bindings} | {o.name for o in optimizers}
    grade.convention = year if units & affected else None
    grade.not_implemented = [b.op for b in missing] + [o.name for o in missing_optimizers]
    for unit in grade.api.required(units, year):
        if unit not in units:
            grade.missing[unit] = _not_implemented(unit, year)
    return grade


def _numpy(options: Options, api: Api):
    """The folder of the NumPy the workers import: ``--numpy``'s (``grader``: the grader's own), else
    the course's where it is installed, else None (the grader's)."""
    if options.numpy == numpy_env.GRADER:
        return None
    if options.numpy:
        return numpy_env.find(options.numpy)
    return numpy_env.installed(api.numpy) if api.numpy else None


def _not_implemented(unit: str, year) -> str:
    """Why an assignment's unit scores 0, with the year whose template lacks it where the year is
    only assumed (layer norm came in 2018)."""
    since = getattr(year, "SINCE", {}).get(unit)
    if year is not None and year.assumed and since is not None:
        earlier = f"{year.name.split('-')[0]}-{since - 1}"
        return (
            f"not implemented (in the template since {since}; for an earlier year's: --convention {earlier})"
        )
    return "not implemented"


def preload() -> None:
    """Import every module of the grader (the core, the grading package, the courses, the registered
    ops) before the first grading test runs.

    Two reasons. A worker cannot reach a module the grader has already imported, should it find a
    way to change the files. And the examples every candidate meets must not depend on when the
    grader imported what: Hypothesis draws values near the constants of the modules loaded, so a
    module first imported on a failure (the diagnoses) would change the derandomised examples of
    every candidate graded after it.
    """
    import gradproof.core
    import gradproof.grading

    for package in (gradproof.core, gradproof.grading):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    registry.all_specs()


class Session:
    """Everything a run grades, and the scoreboard its outcomes go to."""

    def __init__(self, candidates: list[Candidate], options: Options) -> None:
        self.options = options
        self.grades = [plan(candidate, options) for candidate in candidates]
        self.scoreboard = Scoreboard(self.grades, options.points)
        self.reached = False
        """Whether a grading test of this session was set up (run, or skipped for want of time)."""

    @property
    def graded_ops(self) -> list[GradedOp]:
        return [op for grade in self.grades for op in grade.ops]

    @property
    def graded_optimizers(self) -> list[GradedOptimizer]:
        return [o for grade in self.grades for o in grade.optimizers]

    def close(self) -> None:
        for grade in self.grades:
            grade.worker.stop()
