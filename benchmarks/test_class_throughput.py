"""How long one submission's grade takes, and how many submissions an hour a class run grades.

    pytest benchmarks/test_class_throughput.py --benchmark-only --benchmark-columns=mean,rounds

Each row's ``extra_info`` holds ``submissions_per_hour`` (and ``seconds_per_submission``): with
``--jobs`` the machine's cores, and on a 2-worker Dask ``LocalCluster``. One round each: a full
submission takes tens of seconds. Nothing here asserts a time. The grades are ``gradproof grade``'s
own (the ``ci`` profile) unless ``--class-profile`` says otherwise.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from class_corpus import build

from gradproof.classroom import cores

ROOT = Path(__file__).resolve().parent.parent
FULL = {
    "native-correct": ROOT / "candidates" / "naive.py",  # every native op, correct
    "cs231n-bugs": ROOT / "tests" / "candidates" / "cs231n_bugs.py",  # 14 units, most with a bug
    "coursera-bugs": ROOT / "tests" / "candidates" / "coursera_bugs.py",
}
CORES = cores()


def _profile(request) -> str:
    return request.config.getoption("--class-profile")


def _gradproof(*args: str, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gradproof.cli", *args], cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - started


@pytest.mark.parametrize("submission", list(FULL))
def test_one_submission(benchmark, request, tmp_path, submission):
    profile = _profile(request)
    seconds = benchmark.pedantic(
        _gradproof,
        args=("grade", str(FULL[submission]), "--json", str(tmp_path / "r.json"), "--profile", profile),
        kwargs={"cwd": tmp_path},
        rounds=1,
        iterations=1,
    )
    benchmark.extra_info.update(profile=profile, seconds_per_submission=round(seconds, 1))
    benchmark.extra_info["submissions_per_hour_one_at_a_time"] = round(3600 / seconds, 1)


@pytest.mark.parametrize("mode", ["jobs", "dask-local-2"])
def test_class(benchmark, request, tmp_path, mode):
    if mode.startswith("dask"):
        pytest.importorskip("dask.distributed")
    profile = _profile(request)
    folder = build(tmp_path / "class")
    count = len(list(folder.iterdir()))
    where = ["--jobs", str(CORES)] if mode == "jobs" else ["--dask", "local:2"]
    args = ("grade-class", str(folder), "--out", str(tmp_path / "out"), "--force", "--no-progress", *where)
    seconds = benchmark.pedantic(
        _gradproof, args=(*args, "--profile", profile), kwargs={"cwd": tmp_path}, rounds=1, iterations=1
    )
    benchmark.extra_info.update(
        profile=profile,
        submissions=count,
        cores=CORES,
        seconds_per_submission=round(seconds / count, 1),
        submissions_per_hour=round(3600 * count / seconds, 1),
    )
