"""Measurement hygiene for every benchmark here, set before the first one runs and recorded in the
results' ``machine_info``:

* thread counts pinned: torch's intra-op pool and the BLAS under NumPy (through threadpoolctl) both
  use ``--bench-threads`` (2, the CI machine's cores), so that neither backend gets more cores
  than the other and runs compare;
* the allocator: glibc's default returns every buffer over its mmap threshold (which starts at
  128 KiB and grows only to the largest size freed) to the kernel, so each call that allocates a
  ~16 MB buffer page-faults it in again; that made torch's float32 forward on cifar-batch 4x slower,
  by an amount depending on what ran before. Unless ``GLIBC_TUNABLES`` already sets them, the
  thresholds are raised with ``mallopt``, as
  ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=...`` would;
* on the GPU, cuDNN picks its fastest algorithm per shape (``cudnn.benchmark``, paid in warm-up
  rounds) and TF32 is off, so float32 means IEEE float32 on every backend.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

import pytest

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int: never give memory back below 2 GiB free
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h

HYGIENE = pytest.StashKey[dict]()
LIMITER = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradproof-benchmarks", "gradproof benchmarks")
    group.addoption(
        "--bench-threads",
        type=int,
        default=2,
        metavar="N",
        help="threads for torch and for NumPy's BLAS in benchmarks (default 2)",
    )
    group.addoption(
        "--bench-all-shapes",
        action="store_true",
        help="run every conv backend on every shape: loop backends on the large ones, CPU backends "
        "on the GPU's ResNet shapes (slow)",
    )
    group.addoption(
        "--class-profile",
        default="ci",
        metavar="NAME",
        help="the Hypothesis profile test_class_throughput.py grades with (default ci, as gradproof grade)",
    )


def _tune_malloc() -> str:
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return f"glibc, GLIBC_TUNABLES={os.environ['GLIBC_TUNABLES']}"
    if platform.libc_ver()[0] != "glibc":
        return "the platform's default allocator (not glibc: left as it is)"
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    if not ok:
        return "glibc defaults (mallopt refused the thresholds)"
    return f"glibc, mallopt mmap_threshold={MMAP_THRESHOLD} trim_threshold={TRIM_THRESHOLD}"


def pytest_configure(config: pytest.Config) -> None:
    import threadpoolctl
    import torch

    threads = config.getoption("--bench-threads")
    torch.set_num_threads(threads)
    limiter = threadpoolctl.threadpool_limits(limits=threads)
    hygiene = {
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "thread_pools": [
            f"{pool['internal_api']} {pool.get('version')}: {pool['num_threads']} threads"
            for pool in threadpoolctl.threadpool_info()
        ],
        "allocator": _tune_malloc(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        hygiene["cudnn"] = f"{torch.backends.cudnn.version()}, benchmark=True, tf32 off"
    config.stash[HYGIENE] = hygiene
    config.stash[LIMITER] = limiter  # the limits hold while it lives: for the session


def pytest_report_header(config: pytest.Config) -> list[str]:
    hygiene = config.stash.get(HYGIENE, {})
    return [f"gradproof benchmarks: {key} = {value}" for key, value in hygiene.items() if value is not None]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["gradproof"] = config.stash.get(HYGIENE, {})
