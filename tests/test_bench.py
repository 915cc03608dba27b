"""The conv benchmarks' report (``gradproof bench-report``) on results written here, and the suite
itself, untimed, on its smallest shape: every backend must agree with torch, and a wrong one must
fail its row with the quantity and the shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gradproof import bench, cli

ROOT = Path(__file__).resolve().parents[1]


def _row(backend, shape, direction, seconds, device="cpu", flops=1e9):
    info = {"backend": backend, "device": device, "shape": shape, "dtype": "float32", "direction": direction}
    return {
        "name": f"{direction}-{shape}-{backend}",
        "stats": {"median": seconds},
        "extra_info": {**info, "flops": flops},
    }


def _write(path, rows, wrong=()):
    data = {
        "machine_info": {"cpu": {"brand_raw": "Test CPU"}, "gradproof": {"threads": 2}},
        "benchmarks": rows,
    }
    data["gradproof"] = {"wrong": list(wrong)}
    path.write_text(json.dumps(data))
    return path


def _run(tmp_path, name, scale=1.0):
    rows = []
    for shape, torch_seconds in (("small", 0.001), ("large", 0.010)):
        for direction, factor in (("forward", 1), ("backward", 2)):
            base = torch_seconds * factor
            rows += [
                _row("torch-cpu", shape, direction, base),
                _row("numpy", shape, direction, base * 2 * scale),
            ]
    wrong = [
        {
            "backend": "broken",
            "shape": "small",
            "dtype": "float32",
            "pass": "backward",
            "error": "conv2d backward dw of broken: 3 of 9 elements\n...",
        }
    ]
    return _write(tmp_path / name, rows, wrong)


def test_table_has_time_gflops_and_ratio_from_the_same_run(tmp_path):
    results = bench.load([_run(tmp_path, "a.json")])
    text = "\n".join(bench.table(results))
    forward = text.split("conv2d forward, float32")[1].splitlines()
    numpy_line = next(line for line in forward if line.startswith("numpy"))
    # small: 2 ms, 1e9 FLOPs -> 500 GF/s, twice torch's time
    assert numpy_line.split()[1:6] == ["2", "ms", "500", "GF/s", "2.00x"]
    assert forward[3].startswith("torch-cpu")  # the baseline leads its table, under the header
    assert "WRONG" in text
    assert "broken" in text
    assert "dw of broken" in text
    geomean = text.split("geometric mean")[1]
    assert (
        next(line for line in geomean.splitlines() if line.startswith("numpy")).split()[2:] == ["2.00x"] * 3
    )


def test_several_runs_give_the_median_and_the_spread(tmp_path):
    results = bench.load([_run(tmp_path, "a.json"), _run(tmp_path, "b.json", scale=1.5)])
    text = "\n".join(bench.table(results))
    assert "2 runs" in text
    assert "worst 1.50x" in text  # numpy's rows: 2x then 3x torch's time


def test_markdown_and_plot(tmp_path):
    path = _run(tmp_path, "a.json")
    png = tmp_path / "conv.png"
    assert cli.main(["bench-report", str(path), "--markdown", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_file_without_conv_results_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"benchmarks": [{"name": "x", "stats": {"median": 1}, "extra_info": {}}]}))
    assert cli.main(["bench-report", str(path)]) == 2
    assert "no conv benchmark results" in capsys.readouterr().err


def test_suite_checks_every_backend_and_fails_a_wrong_one():
    """Untimed (``--benchmark-disable``): each row still runs its backend once and checks it."""
    wrong = ROOT / "tests" / "candidates" / "wrong_conv.py"
    command = [
        sys.executable, "-m", "pytest", "benchmarks/test_conv_backends.py", "--benchmark-disable",
        "-p", "no:cacheprovider", "-q", f"--candidate={wrong}",
        "-k", "cifar-first and float64 and not naive",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    failed = [line for line in output.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1, output  # its forward is right: only the backward row fails
    assert "test_conv2d[backward-cifar-first-float64-wrong_conv]" in failed[0]
    assert "conv2d backward dw of wrong_conv" in output
    assert "cifar-first: x (8, 3, 32, 32), w (16, 3, 3, 3), stride 1, padding 1, float64" in output
    assert " passed" in output


def test_a_named_candidate_without_conv2d_is_a_usage_error():
    """Not silently left out: the user asked for it to be timed (by a relative path, as typed)."""
    command = [
        sys.executable, "-m", "pytest", "benchmarks/test_conv_backends.py", "--benchmark-disable",
        "-p", "no:cacheprovider", "-q", "--candidate=tests/candidates/relu_only.py",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert (
        "relu_only: defines no conv2d forward and backward in the native API" in result.stdout + result.stderr
    )
