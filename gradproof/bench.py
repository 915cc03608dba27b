"""``gradproof bench-report``: the conv benchmarks' results (pytest-benchmark JSON) as a table of
backend x shape, and a log-log plot of time against problem size.

Each cell is the median time of one (pass, dtype, shape, backend) row, its achieved GFLOP/s, and
its time as a multiple of torch's on the same device *in the same run* (``x_torch``). Given several
result files (separate runs), a cell shows the median over the runs, and the report says how far
the runs' medians spread: on a 2-core machine sub-millisecond rows vary by 1.3-2x between runs.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PASSES = ("forward", "backward")
BASELINES = ("torch-cpu", "torch-cuda")
"""The rows every ratio is taken against: torch's own conv2d on each device."""


@dataclass
class Row:
    direction: str
    dtype: str
    shape: str
    backend: str
    device: str
    flops: int
    seconds: list[float] = field(default_factory=list)
    """The median time of each run."""
    x_torch: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.x_torch) if self.x_torch else None

    @property
    def spread(self) -> float:
        return max(self.seconds) / min(self.seconds)


@dataclass
class Results:
    rows: dict[tuple, Row]
    wrong: dict[tuple, str]
    shapes: list[str]
    """In the order the runs met them (the suite's order: smallest first)."""
    machines: list[str]
    runs: int


def _key(info: dict) -> tuple:
    return info["direction"], info["dtype"], info["shape"], info["backend"]


def load(paths: list[str | Path]) -> Results:
    rows: dict[tuple, Row] = {}
    wrong: dict[tuple, str] = {}
    shapes: list[str] = []
    machines: list[str] = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        run = [b for b in data.get("benchmarks", []) if "backend" in b.get("extra_info", {})]
        if not run and not data.get("gradproof", {}).get("wrong"):
            raise ValueError(f"{path}: no conv benchmark results (run benchmarks/test_conv_backends.py)")
        torch_seconds = {
            (i["direction"], i["dtype"], i["shape"], i["device"]): b["stats"]["median"]
            for b in run
            for i in [b["extra_info"]]
            if i["backend"] == f"torch-{i['device']}"
        }
        for bench in run:
            info = bench["extra_info"]
            if info["shape"] not in shapes:
                shapes.append(info["shape"])
            row = rows.setdefault(
                _key(info),
                Row(
                    info["direction"],
                    info["dtype"],
                    info["shape"],
                    info["backend"],
                    info["device"],
                    info["flops"],
                ),
            )
            seconds = bench["stats"]["median"]
            row.seconds.append(seconds)
            baseline = torch_seconds.get((info["direction"], info["dtype"], info["shape"], info["device"]))
            if baseline is not None:  # the torch row of this very run
                row.x_torch.append(seconds / baseline)
            elif "x_torch" in info:  # measured beside it when the torch row was deselected
                row.x_torch.append(info["x_torch"])
        for item in data.get("gradproof", {}).get("wrong", []):
            first = item["error"].splitlines()[0] if item["error"] else "wrong"
            wrong[(item["pass"], item["dtype"], item["shape"], item["backend"])] = first
        machine = data.get("machine_info", {})
        extra = machine.get("gradproof", {})
        cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor") or "?"
        described = f"{cpu}, {extra.get('threads', '?')} threads"
        if extra.get("cuda"):
            described += f"; {extra['cuda']}"
        if described not in machines:
            machines.append(described)
    return Results(rows, wrong, shapes, machines, len(paths))


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _cell(row: Row | None, wrong: str | None) -> str:
    if wrong is not None:
        return "WRONG"
    if row is None:
        return "-"
    ratio = f" {row.ratio:.2f}x" if row.ratio is not None else ""
    ms, gflops = row.median * 1e3, row.flops / row.median / 1e9
    return f"{_number(ms)} ms {_number(gflops)} GF/s{ratio}"


def _number(value: float) -> str:
    """Three significant digits, without exponents: 0.0936, 5.67, 1260."""
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _backends(results: Results, direction: str, dtype: str) -> list[str]:
    names = {k[3] for k in (*results.rows, *results.wrong) if k[0] == direction and k[1] == dtype}

    # torch first, then by the geometric mean of the ratios, fastest first
    def order(name):
        ratios = [
            row.ratio for k, row in results.rows.items() if k[:2] == (direction, dtype) and k[3] == name
        ]
        ratios = [r for r in ratios if r is not None]
        return (name not in BASELINES, _geomean(ratios) if ratios else math.inf, name)

    return sorted(names, key=order)


def geomeans(results: Results, shapes: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (backend, dtype): the geometric mean over ``shapes`` of x_torch forward, backward, and of
    forward + backward time over torch's (only backends with every one of those rows)."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    by_backend: dict[tuple[str, str], dict[tuple[str, str], Row]] = defaultdict(dict)
    for (direction, dtype, shape, backend), row in results.rows.items():
        by_backend[(backend, dtype)][(direction, shape)] = row
    for (backend, dtype), rows in by_backend.items():
        summary = {}
        for direction in PASSES:
            ratios = [rows[(direction, s)].ratio for s in shapes if (direction, s) in rows]
            if len(ratios) == len(shapes) and None not in ratios:
                summary[direction] = _geomean(ratios)
        if len(summary) == 2:
            both = []
            for s in shapes:
                forward, backward = rows[("forward", s)], rows[("backward", s)]
                torch = forward.median / forward.ratio + backward.median / backward.ratio
                both.append((forward.median + backward.median) / torch)
            summary["forward+backward"] = _geomean(both)
        if summary:
            found[(backend, dtype)] = summary
    return found


def table(results: Results, markdown: bool = False) -> list[str]:
    lines = [f"machine: {m}" for m in results.machines]
    if results.runs > 1:
        lines.append(f"{results.runs} runs: each cell is the median of the runs' medians")
    dtypes = sorted({k[1] for k in (*results.rows, *results.wrong)})
    for dtype in dtypes:
        for direction in PASSES:
            backends = _backends(results, direction, dtype)
            if not backends:
                continue
            shapes = [s for s in results.shapes if any(k[:3] == (direction, dtype, s) for k in results.rows)]
            title = f"conv2d {direction}, {dtype}: median time, GFLOP/s, time / torch's on the same device"
            header = ["backend", *shapes]
            body = [
                [
                    b,
                    *(
                        _cell(results.rows.get(k), results.wrong.get(k))
                        for s in shapes
                        for k in [(direction, dtype, s, b)]
                    ),
                ]
                for b in backends
            ]
            lines += ["", f"**{title}**" if markdown else title, "", *_render(header, body, markdown)]
    cpu_shapes = [s for s in results.shapes if not s.startswith("resnet")]
    summary = geomeans(results, cpu_shapes)
    if summary:
        title = f"geometric mean of time / torch's over {', '.join(cpu_shapes)}"
        lines += ["", f"**{title}**" if markdown else title, ""]
        header = ["backend", "dtype", "forward", "backward", "forward+backward"]
        columns = ("forward", "backward", "forward+backward")
        ordered = sorted(summary.items(), key=lambda item: (item[0][1], item[1].get(columns[-1], math.inf)))
        body = [[b, d, *(f"{s[k]:.2f}x" if k in s else "-" for k in columns)] for (b, d), s in ordered]
        lines += _render(header, body, markdown)
    if results.runs > 1:
        spreads = sorted(
            ((row.spread, key) for key, row in results.rows.items() if len(row.seconds) > 1), reverse=True
        )
        if spreads:
            worst, key = spreads[0]
            typical = statistics.median(s for s, _ in spreads)
            lines += [
                "",
                f"run-to-run spread (slowest / fastest run's median): median {typical:.2f}x, "
                f"worst {worst:.2f}x ({' '.join(key)})",
            ]
    for key, first in sorted(results.wrong.items()):
        lines.append(f"WRONG {' '.join(key)}: {first}")
    return lines


def _render(header: list[str], body: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        return [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in body),
        ]
    rows = [header, *body]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def plot(results: Results, path: str | Path) -> None:
    """Time against FLOPs per backend, log-log, one panel per (pass, dtype)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dtypes = sorted({k[1] for k in results.rows})
    figure, axes = plt.subplots(
        len(PASSES), len(dtypes), figsize=(6 * len(dtypes), 4.5 * len(PASSES)), squeeze=False
    )
    backends = sorted({k[3] for k in results.rows}, key=lambda b: (b not in BASELINES, b))
    colors = {b: plt.get_cmap("tab10")(i % 10) for i, b in enumerate(backends)}
    for i, direction in enumerate(PASSES):
        for j, dtype in enumerate(dtypes):
            ax = axes[i][j]
            for backend in backends:
                rows = sorted(
                    (r for k, r in results.rows.items() if k[:2] == (direction, dtype) and k[3] == backend),
                    key=lambda r: r.flops,
                )
                if rows:
                    ax.plot(
                        [r.flops for r in rows],
                        [r.median * 1e3 for r in rows],
                        marker="o",
                        label=backend,
                        color=colors[backend],
                        linestyle="--" if backend in BASELINES else "-",
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"conv2d {direction}, {dtype}")
            ax.set_xlabel("FLOPs per call")
            ax.set_ylabel("median time per call (ms)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize="small")
    figure.suptitle("; ".join(results.machines), fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
