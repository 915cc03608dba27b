"""``RESULTS/report.html`` of ``gradproof grade-class``: the class at a glance, in one file.

A score histogram, the failure rate of each op and of each of its checks (forward, backward,
gradients ...), the most common failure messages, and the slowest and the broken submissions
(not graded, not loaded, timed out). The plots are matplotlib PNGs embedded as base64; without
matplotlib (``pip install 'gradproof[bench]'``) the report says they are missing and keeps its tables.
"""

from __future__ import annotations

import base64
import html
import io
import re
import statistics
from collections import Counter, defaultdict

TOP_MESSAGES = 15
SLOWEST = 10
NUMBER = re.compile(r"(?<![\w.])-?\d+(\.\d+)?([eE][-+]?\d+)?(?!\w)")
"""A number standing alone (not the 2 of ``conv2d``)."""

INFO_UNITS = {"convention", "isolation", "how it was loaded", "not implemented", "import"}
"""Entries of a grade's ``tests`` that are notes worth no points, not graded ops."""

# -- what a grade says (read from its Gradescope JSON) ------------------------------------------


def units(results: dict | None) -> dict[str, dict]:
    """Graded op -> its entry of a Gradescope ``tests`` list (notes worth nothing left out)."""
    found = {}
    for test in (results or {}).get("tests", []):
        unit = str(test.get("name", "")).partition(": ")[2]
        if unit and unit not in INFO_UNITS:
            found[unit] = test
    return found


def note(results: dict | None, unit: str) -> dict | None:
    return next(
        (t for t in (results or {}).get("tests", []) if str(t.get("name", "")).partition(": ")[2] == unit),
        None,
    )


def summary_reason(record: dict) -> str:
    """Why a row's grade is not simply its points: not graded, not loaded, nothing graded, cut short."""
    if record["status"] != "graded":
        return record["reason"]
    results = record["results"]
    imported = note(results, "import")
    if imported is not None and imported.get("status") == "failed":
        lines = [line.strip() for line in str(imported.get("output", "")).splitlines()[1:] if line.strip()]
        # "NAME: cannot import PATH:" then the why on the next line.
        why = lines[1] if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else "")
        return "could not load: " + (why[:300] or "the import failed")
    if not units(results):
        return "nothing graded: it defines none of the functions of the API it was graded on"
    return str(results.get("output", ""))


QUANTITY = re.compile(r"^(?:your )?[\w.]+ (\w+(?:\[[^\]]*\])?)(?::| equals)")
"""A failure's first line names the op and the quantity: ``affine dw: ...``, ``your batchnorm dx
equals ...``, ``sgd_momentum next_w: ...``, ``config['velocity']``."""


def quantity(message: str) -> str:
    """The quantity a failure message is about (``dx``, ``forward``, ``running_mean``), or ``other``."""
    match = QUANTITY.match(message)
    return match.group(1) if match else "other"


CHECK_LINE = re.compile(r"^([a-z][\w -]*): (passed|FAILED)$")


def failures(test: dict) -> list[tuple[str, str]]:
    """(check, first line of its message) of each failed check of one op's entry."""
    found, lines = [], str(test.get("output", "")).splitlines()
    for index, line in enumerate(lines):
        match = CHECK_LINE.match(line)
        if match and match.group(2) == "FAILED":
            message = next((m.strip() for m in lines[index + 1 :] if m.strip()), "failed")
            found.append((match.group(1), message))
    return found


# -- the report -----------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #a00; }
.missing { color: #a60; font-style: italic; }
img { max-width: 100%; }
"""


def _figure(draw) -> str:
    """An ``<img>`` of what ``draw(ax)`` plots, or a line saying why there is none."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return (
            '<p class="missing">plot missing: matplotlib is not installed '
            "(pip install 'gradproof[bench]')</p>"
        )
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    try:
        draw(ax)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = "".join(
            f'<td class="num">{html.escape(str(c))}</td>'
            if i in numeric
            else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    return "\n".join(out) + "</table>"


def _pattern(message: str) -> str:
    """A failure message with its numbers replaced by ``#``, so that the same mistake made by many
    students counts as one."""
    return NUMBER.sub("#", message)[:200]


def html_report(rows: list[tuple], seconds: float) -> str:
    """The report of ``(submission, record)`` rows (:mod:`gradproof.classroom`'s)."""
    graded = [(s, r) for s, r in rows if r["status"] == "graded"]
    percent = [
        100 * r["results"]["score"] / r["results"]["max_score"]
        for _, r in graded
        if r["results"].get("max_score")
    ]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>gradproof: class report</title>",
        f"<style>{STYLE}</style></head><body><h1>Class report</h1>",
        f"<p>{len(rows)} submissions: {len(graded)} graded, {len(rows) - len(graded)} not graded. "
        f"This run took {seconds:.0f} s.",
    ]
    if percent:
        parts.append(
            f" Score: mean {statistics.mean(percent):.1f} %, median {statistics.median(percent):.1f} %."
        )
    parts.append("</p><h2>Scores</h2>")

    def histogram(ax):
        ax.hist(percent, bins=range(0, 105, 5), color="#4a7ab5", edgecolor="white")
        ax.set_xlabel("score (% of the maximum)")
        ax.set_ylabel("students")
        ax.set_xlim(0, 100)
        ax.yaxis.get_major_locator().set_params(integer=True)

    parts.append(_figure(histogram) if percent else "<p>No submission was graded.</p>")

    # Failure rates: an op counts for every student graded on it.
    op_total, op_failed = Counter(), Counter()
    check_total, check_failed = Counter(), Counter()
    messages: Counter = Counter()
    examples: dict[tuple, list[str]] = defaultdict(list)
    quantities: dict[tuple, set[str]] = defaultdict(set)
    for submission, record in graded:
        for unit, test in units(record["results"]).items():
            op_total[unit] += 1
            failed = failures(test)
            if test.get("status") != "passed":
                op_failed[unit] += 1
            checks = re.findall(r"^([a-z][\w -]*): (?:passed|FAILED)$", str(test.get("output", "")), re.M)
            for check in checks:
                check_total[(unit, check)] += 1
            for check, message in failed:
                check_failed[(unit, check)] += 1
                key = (unit, check, _pattern(message))
                messages[key] += 1
                if len(examples[key]) < 5:
                    examples[key].append(submission.student)
                quantities[unit, quantity(message)].add(submission.student)
    parts.append("<h2>Failure rate per op</h2>")
    ops = sorted(op_total, key=lambda u: (-op_failed[u] / op_total[u], u))
    if ops:

        def bars(ax):
            shown = ops[::-1]
            bars = ax.barh(shown, [100 * op_failed[u] / op_total[u] for u in shown], color="#c0504d")
            ax.bar_label(bars, labels=[f"{op_failed[u]}/{op_total[u]}" for u in shown], padding=3, fontsize=8)
            ax.set_xlabel("students failing at least one check (%)")
            ax.set_xlim(0, 110)
            ax.figure.set_size_inches(8, max(2.0, 0.28 * len(ops) + 1))

        parts.append(_figure(bars))
        parts.append(
            _table(
                ["op", "check", "failed", "graded", "failure rate"],
                [
                    [
                        unit,
                        check,
                        check_failed[unit, check],
                        total,
                        f"{100 * check_failed[unit, check] / total:.0f} %",
                    ]
                    for (unit, check), total in sorted(
                        check_total.items(), key=lambda kv: (ops.index(kv[0][0]), kv[0][1])
                    )
                ],
                numeric={2, 3, 4},
            )
        )
    parts.append("<h2>Failures per op and quantity</h2>")
    per_quantity = sorted(quantities.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    parts.append(
        _table(
            ["op", "quantity", "students failing it", "of those graded on the op"],
            [[unit, what, len(students), op_total[unit]] for (unit, what), students in per_quantity],
            numeric={2, 3},
        )
        if per_quantity
        else "<p>No check failed.</p>"
    )
    parts.append("<h2>Most common failure messages</h2>")
    common = messages.most_common(TOP_MESSAGES)
    parts.append(
        _table(
            ["students", "op", "check", "message (numbers as #)", "for example"],
            [[count, *key, ", ".join(examples[key])] for key, count in common],
            numeric={0},
        )
        if common
        else "<p>No check failed.</p>"
    )
    parts.append("<h2>Broken submissions</h2>")
    broken = []
    for submission, record in rows:
        reason = summary_reason(record)
        timed_out = [
            unit
            for unit, test in units(record["results"]).items()
            if "timed out" in str(test.get("output", ""))
        ]
        if record["status"] != "graded":
            broken.append([submission.student, "not graded", reason])
        elif reason.startswith(("could not load", "nothing graded")):
            broken.append([submission.student, reason.partition(":")[0], reason.partition(": ")[2]])
        elif timed_out:
            broken.append([submission.student, "timed out", "calls timed out in: " + ", ".join(timed_out)])
    parts.append(
        _table(["student", "status", "why"], broken) if broken else "<p>Every submission was graded.</p>"
    )
    parts.append("<h2>Slowest submissions</h2>")
    slowest = sorted(rows, key=lambda sr: -sr[1].get("seconds", 0))[:SLOWEST]
    parts.append(
        _table(
            ["student", "seconds", "status"],
            [[s.student, f"{r.get('seconds', 0):.1f}", r["status"]] for s, r in slowest],
            numeric={1},
        )
    )
    parts.append("</body></html>\n")
    return "\n".join(parts)
