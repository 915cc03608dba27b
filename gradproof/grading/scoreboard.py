"""The scoreboard: each check's outcome, recorded as the grading tests run, and the scores they make."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass


@dataclass
class Outcome:
    check: str
    passed: bool
    reason: str = ""
    output: str = ""
    seconds: float = 0.0


def load_points(path: str | None) -> dict[str, float]:
    """``[points]`` of a TOML file: op name -> points, and ``default`` for the rest (1 without a file)."""
    if path is None:
        return {}
    with open(path, "rb") as f:
        table = tomllib.load(f).get("points", {})
    for key, value in table.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise ValueError(f"{path}: points for {key!r} must be a non-negative number, got {value!r}")
    return dict(table)


class Scoreboard:
    """Outcomes per candidate and unit, and the points they are worth (``[points]`` of a TOML file:
    op name -> points, ``default`` for the rest; 1 each without a file)."""

    def __init__(self, grades: list, points: dict) -> None:
        self.grades, self.points = grades, points

    def record(self, candidate_name: str, unit: str, outcome: Outcome) -> None:
        for grade in self.grades:
            if grade.candidate.name == candidate_name:
                grade.outcomes.setdefault(unit, []).append(outcome)

    @staticmethod
    def not_run(grade) -> int:
        """How many planned checks of ``grade`` have no outcome (interrupted, out of time,
        deselected)."""
        return sum(
            max(0, graded.planned_checks - len(grade.outcomes.get(graded.unit, [])))
            for graded in [*grade.ops, *grade.optimizers]
        )

    @staticmethod
    def notes(grade, unit: str) -> list[str]:
        """Conventions the template leaves open that a unit's checks met (a max-pool tie rule), with no
        deduction."""
        return [n for op in grade.ops if op.unit == unit for n in op.notes.values()]

    @staticmethod
    def warnings(grade, unit: str) -> list[str]:
        """What a unit's checks accepted with a warning (a harmless shape variant)."""
        return [w for op in grade.ops if op.unit == unit for w in op.shapes.warnings.values()]

    def weight(self, unit: str) -> float:
        return float(self.points.get(unit, self.points.get("default", 1.0 if not self.points else 0.0)))

    def rows(self, grade) -> list[tuple[str, int, int, float, float, str]]:
        """(unit, passed, total, score, max score, first failure) per graded or missing unit."""
        rows = []
        imported = grade.outcomes.get("import", [])
        if not all(o.passed for o in imported):
            first = next(o.reason for o in imported if not o.passed)
            rows.append(("import", 0, len(imported), 0.0, 0.0, first))
        # Every planned check counts, run or not: an interrupted grade (or one out of time) is
        # incomplete, never all green on what happened to run.
        for graded in [*grade.ops, *grade.optimizers]:
            outcomes = grade.outcomes.get(graded.unit, [])
            planned = max(graded.planned_checks, len(outcomes))
            passed = sum(o.passed for o in outcomes)
            weight = self.weight(graded.unit)
            first = next((o.reason for o in outcomes if not o.passed), "")
            if not first and len(outcomes) < planned:
                first = f"{planned - len(outcomes)} of {planned} checks not run"
            rows.append((graded.unit, passed, planned, weight * passed / planned, weight, first))
        # What the assignment asks for and the candidate left out scores 0: the units of a template
        # file it implements some of, and those a points file names.
        for unit in grade.not_implemented:
            if unit in grade.missing or unit in self.points:
                rows.append((unit, 0, 0, 0.0, self.weight(unit), grade.missing.get(unit, "not implemented")))
        return rows

    def not_graded(self, grade) -> list[str]:
        """The API's units a candidate does not implement and its assignment does not ask for."""
        return [u for u in grade.not_implemented if u not in grade.missing and u not in self.points]
