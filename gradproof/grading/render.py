"""What a grade looks like: the table printed at the end of a run, and the Gradescope
``results.json``, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from gradproof.grading.session import Session

UNISOLATED = (
    "graded without isolation: bubblewrap (bwrap) is not installed or cannot create namespaces here, "
    "so the code could read or change the grader (install bubblewrap, or grade with --require-sandbox "
    "to refuse)"
)


def table(session: Session, markup: bool) -> list[tuple[str, dict]]:
    """Lines (text, markup keywords) of the grade table of every candidate."""
    lines: list[tuple[str, dict]] = []
    for grade in session.grades:
        rows = session.scoreboard.rows(grade)
        score, total = sum(r[3] for r in rows), sum(r[4] for r in rows)
        api = f"{grade.api.name} API ({grade.api_reason})" if grade.api else "not imported"
        lines.append((f"{grade.candidate.name}: {grade.candidate.target}", {"bold": True}))
        lines.append((f"  {api}", {}))
        if grade.convention is not None:
            assumed = markup and grade.convention.assumed
            lines.append((f"  {grade.convention.describe()}", {"yellow": assumed}))
        if grade.worker.isolation == "none":
            lines.append((f"  warning: {UNISOLATED}", {"yellow": markup}))
        if grade.worker.numpy is not None:
            lines.append((f"  {_numpy(grade)}", {}))
        for note in grade.worker.load_notes:
            lines.append((f"  note: {note}", {"yellow": markup}))
        width = max([len(r[0]) for r in rows] + [10])
        for unit, passed, count, points, weight, first in rows:
            ok = passed == count and count > 0
            text = f"  {unit:<{width}}  {passed:>2}/{count:<2} {points:6.2f}/{weight:<6.2f}"
            if first:
                text += f"  {first}"
            lines.append((text, {"green": True} if ok and markup else {"red": True} if markup else {}))
            for warning in session.scoreboard.warnings(grade, unit):
                lines.append((f"    warning: {warning}", {"yellow": markup}))
            for note in session.scoreboard.notes(grade, unit):
                lines.append((f"    note: {note}", {"yellow": markup}))
        not_graded = session.scoreboard.not_graded(grade)
        if not_graded:
            lines.append((f"  not implemented (not graded): {', '.join(not_graded)}", {"yellow": markup}))
        not_run = session.scoreboard.not_run(grade)
        incomplete = f" (incomplete: {not_run} checks did not run)" if not_run else ""
        lines.append((f"  score: {score:.2f} / {total:.2f}{incomplete}", {"bold": True}))
    return lines


def _numpy(grade) -> str:
    version = grade.worker.numpy.name.removeprefix("numpy-")
    if grade.api is not None and grade.api.numpy == version:
        why = "the course's; --numpy grader grades with the grader's own"
    else:
        why = "--numpy"
    return f"graded with NumPy {version} in the candidate's process ({why})"


def _test(name: str, score: float, max_score: float, status: str, output: str) -> dict:
    """One entry of Gradescope's ``tests``."""
    return {
        "name": name,
        "score": score,
        "max_score": max_score,
        "status": status,
        "output": output,
        "visibility": "visible",
    }


def gradescope(session: Session, seconds: float) -> dict:
    tests, score, max_score = [], 0.0, 0.0
    for grade in session.grades:
        name = grade.candidate.name
        # What the grade needs said and is worth no points: the course year, the isolation, loading.
        if grade.convention is not None:
            tests.append(_test(f"{name}: convention", 0, 0, "passed", grade.convention.describe()))
        if grade.worker.isolation == "none":
            tests.append(_test(f"{name}: isolation", 0, 0, "failed", UNISOLATED))
        if grade.worker.numpy is not None:
            tests.append(_test(f"{name}: NumPy", 0, 0, "passed", _numpy(grade)))
        if grade.worker.load_notes:
            notes = "\n".join(grade.worker.load_notes)
            tests.append(_test(f"{name}: how it was loaded", 0, 0, "passed", notes))
        for unit, passed, count, points, weight, first in session.scoreboard.rows(grade):
            outcomes = grade.outcomes.get(unit, [])
            output = (
                "\n\n".join(
                    f"{o.check}: {'passed' if o.passed else 'FAILED'}" + (f"\n{o.output}" if o.output else "")
                    for o in outcomes
                )
                or first
            )
            warnings = "".join(f"warning: {w}\n" for w in session.scoreboard.warnings(grade, unit))
            warnings += "".join(f"note: {n}\n" for n in session.scoreboard.notes(grade, unit))
            status = "passed" if count and passed == count else "failed"
            tests.append(_test(f"{name}: {unit}", round(points, 4), weight, status, warnings + output))
            score += points
            max_score += weight
        not_graded = session.scoreboard.not_graded(grade)
        if not_graded:
            missing = ", ".join(not_graded)
            tests.append(
                _test(f"{name}: not implemented", 0, 0, "failed", f"not implemented (not graded): {missing}")
            )
    result = {
        "score": round(score, 4),
        "max_score": max_score,
        "execution_time": round(seconds, 3),
        "tests": tests,
    }
    not_run = sum(session.scoreboard.not_run(grade) for grade in session.grades)
    if not_run:
        result["output"] = (
            f"incomplete: {not_run} planned checks did not run (the grade was interrupted, ran out of "
            "--total-timeout, or was given -k); they score 0"
        )
    return result


def write_gradescope(session: Session, path: str, seconds: float) -> None:
    data = gradescope(session, seconds)
    target = Path(path)
    # A fresh, unguessable name beside the target (no file a candidate could have planted there, a
    # link say, is written through), then renamed over it in one step.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(descriptor, "w") as f:
        f.write(json.dumps(data, indent=2) + "\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
