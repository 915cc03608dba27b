"""The grade: what each candidate was graded on, the table printed at the end of a run, and the
Gradescope ``results.json``."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gradproof.grading.binding import Api
from gradproof.grading.courses import detect, get_api
from gradproof.grading.process import Candidate, Worker
from gradproof.grading.units import GradedOp, GradedOptimizer, ShapePolicy

CHECK_NAMES = {
    "test_candidate_imports": "import",
    "test_forward": "forward",
    "test_backward": "backward",
    "test_backward_matches_own_forward": "backward vs own forward",
    "test_contracts": "contracts",
    "test_optimizer_trajectory": "trajectory",
}


@dataclass
class Outcome:
    check: str
    passed: bool
    reason: str = ""
    output: str = ""
    seconds: float = 0.0


@dataclass
class CandidateGrade:
    candidate: Candidate
    worker: Worker
    api: Api | None = None
    api_reason: str = ""
    convention: object = None
    """The course year graded against, for an API whose conventions changed (cs231n)."""
    ops: list[GradedOp] = field(default_factory=list)
    optimizers: list[GradedOptimizer] = field(default_factory=list)
    not_implemented: list[str] = field(default_factory=list)
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    """Unit (op or optimizer name, or "import") -> its checks' outcomes."""


def load_points(path: str | None) -> dict[str, float]:
    """``[points]`` of a TOML file: op name -> points, and ``default`` for the rest (1 without a file)."""
    if path is None:
        return {}
    with open(path, "rb") as f:
        table = tomllib.load(f).get("points", {})
    for key, value in table.items():
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{path}: points for {key!r} must be a non-negative number, got {value!r}")
    return dict(table)


class Grading:
    """Everything a run grades, built once at collection."""

    def __init__(
        self,
        candidates: list[Candidate],
        api: str | None,
        timeout: float,
        points: dict,
        conventions: list[str] = (),
        strict_shapes: bool = False,
    ) -> None:
        self.points = points
        self.grades: list[CandidateGrade] = []
        for candidate in candidates:
            worker = Worker(candidate, timeout=timeout)
            worker.start()
            grade = CandidateGrade(candidate, worker)
            self.grades.append(grade)
            if worker.load_error is not None:
                continue
            if api is not None:
                grade.api, grade.api_reason = get_api(api), "chosen with --candidate-api"
            else:
                grade.api = detect(worker.defined or worker.names, worker.params)
                grade.api_reason = "detected from its function names; --candidate-api overrides"
            # What the candidate wrote itself is graded; what it imports (a reference it leans on) is not.
            own = worker.defined or worker.names
            bindings, missing = grade.api.implemented(own)
            optimizers, missing_optimizers = grade.api.implemented_optimizers(own)
            # A course year matters to the units it changes (cs231n: dropout and Adam), and is said
            # in the report only for a candidate that has one of them.
            year = grade.api.choose_convention(list(conventions))
            affected = set(year.affects) if year is not None else set()
            grade.ops = [
                GradedOp(
                    candidate,
                    grade.api,
                    b,
                    worker,
                    year if b.op in affected else None,
                    ShapePolicy(strict_shapes),
                )
                for b in bindings
            ]
            grade.optimizers = [
                GradedOptimizer(candidate, grade.api, o, worker, year if o.name in affected else None)
                for o in optimizers
            ]
            units = {b.op for b in bindings} | {o.name for o in optimizers}
            grade.convention = year if units & affected else None
            grade.not_implemented = [b.op for b in missing] + [o.name for o in missing_optimizers]

    def close(self) -> None:
        for grade in self.grades:
            grade.worker.stop()

    @property
    def graded_ops(self) -> list[GradedOp]:
        return [op for grade in self.grades for op in grade.ops]

    @property
    def graded_optimizers(self) -> list[GradedOptimizer]:
        return [o for grade in self.grades for o in grade.optimizers]

    def record(self, candidate_name: str, unit: str, outcome: Outcome) -> None:
        for grade in self.grades:
            if grade.candidate.name == candidate_name:
                grade.outcomes.setdefault(unit, []).append(outcome)

    @staticmethod
    def warnings(grade: CandidateGrade, unit: str) -> list[str]:
        """What a unit's checks accepted with a warning (a harmless shape variant)."""
        return [w for op in grade.ops if op.unit == unit for w in op.shapes.warnings.values()]

    def weight(self, unit: str) -> float:
        return float(self.points.get(unit, self.points.get("default", 1.0 if not self.points else 0.0)))

    # -- the table -----------------------------------------------------------------------------

    def rows(self, grade: CandidateGrade) -> list[tuple[str, int, int, float, float, str]]:
        """(unit, passed, total, score, max score, first failure) per graded or missing unit."""
        rows = []
        for unit, outcomes in grade.outcomes.items():
            if unit == "import" and all(o.passed for o in outcomes):
                continue  # said once, in the API line
            passed = sum(o.passed for o in outcomes)
            weight = 0.0 if unit == "import" else self.weight(unit)
            first = next((o.reason for o in outcomes if not o.passed), "")
            rows.append((unit, passed, len(outcomes), weight * passed / len(outcomes), weight, first))
        for unit in grade.not_implemented:
            if unit in self.points:  # a points file counts what the assignment asks for
                rows.append((unit, 0, 0, 0.0, self.weight(unit), "not implemented"))
        return rows

    def table(self, markup: bool) -> list[tuple[str, dict]]:
        """Lines (text, markup keywords) of the grade table of every candidate."""
        lines: list[tuple[str, dict]] = []
        for grade in self.grades:
            rows = self.rows(grade)
            score, total = sum(r[3] for r in rows), sum(r[4] for r in rows)
            api = f"{grade.api.name} API ({grade.api_reason})" if grade.api else "not imported"
            lines.append((f"{grade.candidate.name}: {grade.candidate.target}", {"bold": True}))
            lines.append((f"  {api}", {}))
            if grade.convention is not None:
                assumed = markup and grade.convention.assumed
                lines.append((f"  {grade.convention.describe()}", {"yellow": assumed}))
            for note in grade.worker.load_notes:
                lines.append((f"  note: {note}", {"yellow": markup}))
            width = max([len(r[0]) for r in rows] + [10])
            for unit, passed, count, points, weight, first in rows:
                ok = passed == count and count > 0
                text = f"  {unit:<{width}}  {passed:>2}/{count:<2} {points:6.2f}/{weight:<6.2f}"
                if first:
                    text += f"  {first}"
                lines.append((text, {"green": True} if ok and markup else {"red": True} if markup else {}))
                for warning in self.warnings(grade, unit):
                    lines.append((f"    warning: {warning}", {"yellow": markup}))
            if grade.not_implemented:
                lines.append((f"  not implemented: {', '.join(grade.not_implemented)}", {"yellow": markup}))
            lines.append((f"  score: {score:.2f} / {total:.2f}", {"bold": True}))
        return lines

    # -- Gradescope ----------------------------------------------------------------------------

    def gradescope(self, seconds: float) -> dict:
        tests, score, max_score = [], 0.0, 0.0
        for grade in self.grades:
            if grade.convention is not None:
                tests.append(
                    {
                        "name": f"{grade.candidate.name}: convention",
                        "score": 0,
                        "max_score": 0,
                        "status": "passed",
                        "output": grade.convention.describe(),
                        "visibility": "visible",
                    }
                )
            if grade.worker.load_notes:
                tests.append(
                    {
                        "name": f"{grade.candidate.name}: how it was loaded",
                        "score": 0,
                        "max_score": 0,
                        "status": "passed",
                        "output": "\n".join(grade.worker.load_notes),
                        "visibility": "visible",
                    }
                )
            for unit, passed, count, points, weight, _ in self.rows(grade):
                outcomes = grade.outcomes.get(unit, [])
                output = (
                    "\n\n".join(
                        f"{o.check}: {'passed' if o.passed else 'FAILED'}"
                        + (f"\n{o.output}" if o.output else "")
                        for o in outcomes
                    )
                    or "not implemented"
                )
                warnings = "".join(f"warning: {w}\n" for w in self.warnings(grade, unit))
                tests.append(
                    {
                        "name": f"{grade.candidate.name}: {unit}",
                        "score": round(points, 4),
                        "max_score": weight,
                        "status": "passed" if count and passed == count else "failed",
                        "output": warnings + output,
                        "visibility": "visible",
                    }
                )
                score += points
                max_score += weight
            if grade.not_implemented:
                names = ", ".join(grade.not_implemented)
                tests.append(
                    {
                        "name": f"{grade.candidate.name}: not implemented",
                        "score": 0,
                        "max_score": 0,
                        "status": "failed",
                        "output": f"not implemented (not graded): {names}",
                        "visibility": "visible",
                    }
                )
        return {
            "score": round(score, 4),
            "max_score": max_score,
            "execution_time": round(seconds, 3),
            "tests": tests,
        }

    def write_gradescope(self, path: str, seconds: float) -> None:
        data = self.gradescope(seconds)
        target = Path(path)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(temporary, target)
