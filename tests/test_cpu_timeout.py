"""A call's time limit is CPU time, so a grade does not depend on what else runs on the machine; a
call that never answers is bounded by the wall clock, ten times the limit."""

from __future__ import annotations

import os
import signal
import time

import pytest

from gradproof.core.checks import CallFailed
from gradproof.grading import process
from gradproof.grading.calls import Call
from gradproof.grading.candidates import from_spec
from gradproof.grading.process import WALL_FACTOR, Worker, process_tree
from tests.test_grading import HERE

TIMING = from_spec(str(HERE / "class" / "timing.py"))
LIMIT = 0.2


@pytest.fixture
def worker():
    worker = Worker(TIMING, timeout=LIMIT, packages=False)
    yield worker
    worker.stop()


def test_a_call_that_waits_longer_than_its_limit_without_computing_passes(worker):
    # 0.6 s of wall-clock time, three times the limit, and next to no CPU: a wall-clock timeout would fail it.
    started = time.monotonic()
    (reply,) = worker.call_many([Call("waits", (3,))])
    assert reply.value == 3
    assert time.monotonic() - started >= 0.6
    assert worker.call_many([Call("quick", (4,))])[0].value == 4  # the same process, not restarted


def test_a_call_that_computes_past_its_limit_fails_on_cpu_time(worker, monkeypatch):
    # A wall-clock bound far away: however loaded the machine, the CPU limit is met first.
    monkeypatch.setattr(process, "WALL_FACTOR", 100.0)
    used = r"spins: timed out: used [\d.]+ s of CPU time, more than its limit of 0.2 s"
    with pytest.raises(CallFailed, match=used):
        worker.call_many([Call("spins", (1,))])
    with pytest.raises(CallFailed, match="not called again"):
        worker.call_many([Call("spins", (1,))])
    assert worker.call_many([Call("quick", (5,))])[0].value == 5  # restarted for the others


def test_a_call_that_never_answers_fails_on_the_wall_clock(worker):
    started = time.monotonic()
    silent = r"sleeps: timed out after 2 s of wall-clock time: it did not answer"
    with pytest.raises(CallFailed, match=silent):
        worker.call_many([Call("sleeps", (1,))])
    assert LIMIT * WALL_FACTOR <= time.monotonic() - started < LIMIT * WALL_FACTOR + 2


def test_a_stopped_worker_fails_at_the_cpu_limit_not_the_wall_clock(worker):
    started = time.monotonic()
    with pytest.raises(CallFailed, match=r"stops: timed out: its process was stopped \(SIGSTOP"):
        worker.call_many([Call("stops", (1,))])
    assert time.monotonic() - started < LIMIT * WALL_FACTOR
    assert worker.call_many([Call("quick", (6,))])[0].value == 6


def test_the_cpu_of_a_process_tree_counts_its_children_and_sees_one_stopped():
    # Under bubblewrap the worker's pid is bwrap's, and the candidate computes in its child.
    assert process_tree(-1) is None
    pid = os.fork()
    if pid == 0:  # a child that computes for 0.3 s of CPU, then waits to be killed
        deadline = time.process_time() + 0.3
        while time.process_time() < deadline:
            pass
        time.sleep(60)
        os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while process_tree(pid).cpu < 0.29 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_tree(os.getpid()).cpu >= process_tree(pid).cpu >= 0.29
        assert not process_tree(pid).stopped
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 20
        while not process_tree(os.getpid()).stopped and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_tree(os.getpid()).stopped  # a stopped process anywhere below
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
