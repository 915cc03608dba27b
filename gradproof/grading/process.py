"""The process a candidate runs in, seen from the grading side.

A candidate's code never runs in the grading process: :class:`Worker` spawns ``python -m
gradproof.grading.worker`` (a fresh interpreter, not a fork), which imports the candidate and
evaluates the :class:`~gradproof.grading.calls.Call` objects sent to it. A call that raises, hangs
past its timeout, or kills the worker comes back as a :class:`~gradproof.core.checks.CallFailed`
that says which; a dead worker is restarted on the next call.

A call's time limit is CPU time, the seconds the candidate's processes compute, not the seconds
that pass: on a machine loaded by other grades (``gradproof grade-class --jobs``) a correct call
waits longer for a core but uses no more CPU, so its grade does not depend on what runs beside it.
A call that uses no CPU and never answers (it sleeps or waits on a lock) is bounded by a wall clock
:data:`WALL_FACTOR` times as long; one whose process was stopped (``SIGSTOP``) fails as soon as
that is seen, at the CPU limit.
"""

from __future__ import annotations

import ctypes
import functools
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from gradproof.core.checks import CallFailed
from gradproof.grading import sandbox, wire
from gradproof.grading.calls import Call, Reply
from gradproof.grading.candidates import Candidate

DEFAULT_TIMEOUT = 5.0
"""CPU seconds a single call may use; a batch of n calls gets n times as many."""
IMPORT_TIMEOUT = 60.0
"""CPU seconds the candidate's import may use (importing torch alone takes several)."""
WALL_FACTOR = 10.0
"""A call that does not answer within this many times its CPU limit of wall-clock time fails,
whatever CPU it used: it sleeps or waits."""
MIN_POLL = 0.05
"""Seconds at least between two looks at a slow call's CPU time."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
STDERR_LINES = 15
REPLY_LIMIT = 256 << 20
"""Bytes a reply may hold: the examples are small, and a candidate's process that sends more (an
array far larger than its inputs) fails that call instead of filling the grader's memory."""


REFUSED = ("torch", "jax", "jaxlib", "tensorflow", "autograd", "gradproof", "reference")
"""What a course API's candidate may not import: a NumPy assignment is not solved by another
library's autograd or by the grader's own reference. The sandbox does not even bind them; the
worker refuses them also where it runs without one."""


PR_SET_CHILD_SUBREAPER = 36


@functools.cache
def _adopt_orphans() -> bool:
    """Make this process the subreaper of what it starts (Linux): a worker's descendant that
    double-forks away from it is reparented here, not to init, so that :func:`_kill_orphans`
    finds it. Whether that worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


_WORKERS: set[int] = set()
"""The pids of this process's running workers."""


def _kill_orphans(rounds: int = 5) -> None:
    """Kill what stopped workers left behind: this process's children in a session other than its
    own that are no running worker (an ordinary subprocess stays in our session; a worker's
    descendant is in the worker's, or in one it made)."""
    ours = os.getsid(0)
    for _ in range(rounds):
        orphans = [pid for pid, session in _children() if session != ours and pid not in _WORKERS]
        if not orphans:
            return
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in orphans:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _children() -> list[tuple[int, int]]:
    """This process's children and their sessions, from /proc (none where there is no /proc)."""
    me, found = os.getpid(), []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.append((int(entry), int(fields[3])))
    return found


@dataclass
class Worker:
    """The process of one candidate. What it defines is read from its source
    (:func:`~gradproof.grading.candidates.declared`), not from here."""

    candidate: Candidate
    timeout: float = DEFAULT_TIMEOUT
    packages: bool = True
    """Whether the candidate may import installed packages beyond NumPy (torch): the course APIs
    say no, so that a NumPy assignment is not solved with autograd."""
    require_sandbox: bool = False
    """Refuse to run the candidate where there is no sandbox (:mod:`gradproof.grading.sandbox`)."""
    numpy: Path | None = None
    """A folder with another NumPy for the worker (:mod:`gradproof.grading.numpy_env`)."""
    isolation: str = ""
    """How the running worker is isolated: ``"sandbox"`` or ``"none"`` (empty before it starts)."""
    timed_out: dict[str, str] = field(default_factory=dict)
    """Functions that ran past the timeout or killed their process, with the message: they are not
    called again (each call would cost the timeout or a restart, and Hypothesis replays a failure
    many times while it shrinks it)."""
    load_error: str | None = None
    load_notes: tuple[str, ...] = ()
    """How the candidate was loaded: the top-level code skipped, the imports that failed."""
    _process: subprocess.Popen | None = field(default=None, repr=False)
    _log: object = field(default=None, repr=False)
    _home: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    _launch: sandbox.Launch | None = field(default=None, repr=False)
    _cpu: float = field(default=0.0, repr=False)
    """CPU seconds the worker had used at its last reply, as it reported them: where the next
    call's CPU time is counted from."""
    _cpu_offset: float = field(default=0.0, repr=False)
    """CPU seconds of the worker's process tree that its own report leaves out (bubblewrap's
    processes, which set up the sandbox), measured once the candidate is imported."""

    # -- process -------------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the worker and import the candidate; sets ``load_error`` and ``load_notes``."""
        self.stop()
        if self._log is not None:
            self._log.close()  # the last process's output: read by then, if it crashed
        self._log = tempfile.TemporaryFile(mode="w+b")
        try:
            launch = sandbox.launch(
                self.candidate.kind,
                self.candidate.target,
                packages=self.packages,
                required=self.require_sandbox,
                numpy=self.numpy,
            )
        except sandbox.SandboxUnavailable as exc:
            self.load_error = str(exc)
            return
        self.isolation = launch.isolation
        self._cpu = self._cpu_offset = 0.0
        self._launch = launch
        env, cwd = launch.env, launch.cwd  # the sandbox's working directory is set inside it
        if launch.isolation == "none":
            # The candidate runs in an empty directory of its own: files it writes land there.
            self._home = tempfile.TemporaryDirectory(prefix=f"gradproof-{self.candidate.name}-")
            env, cwd = {**env, "HOME": self._home.name}, self._home.name
        _adopt_orphans()
        limits = sandbox.USER_LIMITS if launch.user is not None else None
        uid, gid = launch.user if launch.user is not None else (None, None)
        self._process = subprocess.Popen(
            launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=cwd,
            env=env,
            start_new_session=True,  # a candidate's signal to its group cannot reach pytest
            preexec_fn=lambda: sandbox.apply_limits(limits),
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )
        _WORKERS.add(self._process.pid)
        target = {"kind": self.candidate.kind, "target": launch.target}
        target["module_name"] = f"gradproof_candidate_{self.candidate.name}"
        if not self.packages:
            target["refuse"] = list(REFUSED)
        try:
            header, _ = self._exchange({"load": target}, [], IMPORT_TIMEOUT, "importing the candidate")
        except CallFailed as exc:
            self.load_error = str(exc)
            return
        tree = process_tree(self._process.pid)  # the worker waits for its first call now
        if tree is not None:
            self._cpu_offset = max(0.0, tree.cpu - self._cpu)
        try:
            if header.get("ok"):
                self.load_error = None
                self.load_notes = tuple(str(note)[:2000] for note in header.get("notes", ()))
            else:
                self.load_error = str(header["error"])[:4000]
        except (AttributeError, KeyError, TypeError, ValueError):
            # Whatever the candidate's process sends is its failure, never an error of the run.
            self.stop()
            self.load_error = "the candidate's process sent a malformed reply"

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                try:
                    os.killpg(self._process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._process.wait()
            _WORKERS.discard(self._process.pid)
            for stream in (self._process.stdin, self._process.stdout):
                stream.close()
            self._process = None
            # What it started and left behind (a double fork into a new session escapes the group
            # kill) was reparented to this process: killed too. In the sandbox it died already.
            _kill_orphans()
        if self._home is not None:
            self._home.cleanup()
            self._home = None
        launch, self._launch = self._launch, None
        if launch is not None and launch.scratch is not None:
            shutil.rmtree(launch.scratch, ignore_errors=True)

    def ensure_started(self) -> None:
        """Start the worker unless it runs, or failed to import the candidate."""
        if self.load_error is None and not self.alive:
            self.start()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stderr_tail(self, lines: int = STDERR_LINES) -> str:
        if self._log is None:
            return ""
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - 8192))
        text = self._log.read().decode(errors="replace")
        return "\n".join(text.rstrip().splitlines()[-lines:])

    # -- calls ---------------------------------------------------------------------------------

    def call_many(self, calls: list[Call], *, reset: bool = False) -> list[Reply]:
        """Evaluate ``calls`` in one request; one :class:`Reply` per call, in order.

        Raises :class:`CallFailed` when a call raised (its message says how), when the worker
        times out or dies (it is restarted on the next call), or when what came back is not a reply
        to these calls: whatever the candidate's process sends is a failed call, never an error of
        the grading run.
        """
        self.ensure_started()  # the first call, or the one after a crash or a timeout
        if self.load_error is not None:
            raise CallFailed(f"the candidate failed to import: {self.load_error}")
        poisoned = next((self.timed_out[c.fn] for c in calls if c.fn in self.timed_out), None)
        failure = f"{poisoned} (not called again)" if poisoned is not None else None
        if failure is None:
            try:
                header, out_arrays = self._send(calls, reset)
            except CallFailed as exc:
                failure = str(exc)
        if failure is not None:
            # One raise for both: Hypothesis replays a failure and must meet the same one.
            raise CallFailed(failure)
        replies = header.get("replies") if isinstance(header, dict) else None
        if not isinstance(replies, list) or len(replies) != len(calls):
            self.stop()
            raise CallFailed("the candidate's process sent a malformed reply")
        decoded = []
        for call, reply in zip(calls, replies, strict=True):
            if not isinstance(reply, dict):
                self.stop()
                raise CallFailed(f"{call.fn}: the candidate's process sent a malformed reply")
            if not reply.get("ok"):
                raise CallFailed(f"{call.fn} {reply.get('error', 'failed')}")
            try:
                value = wire.decode(reply.get("value"), out_arrays)
                args = wire.decode(reply["args"], out_arrays) if "args" in reply else None
                kept = wire.decode(reply["kept"], out_arrays) if "kept" in reply else None
                kept = {int(id): list(a) for id, a in kept.items()} if isinstance(kept, dict) else None
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                self.stop()
                raise CallFailed(
                    f"{call.fn}: the candidate's process sent a malformed reply ({exc})"
                ) from None
            decoded.append(Reply(value, args if isinstance(args, list) else None, kept))
        return decoded

    def _send(self, calls: list[Call], reset: bool):
        arrays: list = []
        encoded = wire.encode_calls(calls, arrays)
        names = ", ".join(sorted({call.fn for call in calls}))
        return self._exchange(
            {"calls": encoded, "reset": reset}, arrays, self.timeout * max(1, len(calls)), names
        )

    def _exchange(self, header: dict, arrays: list, timeout: float, what: str):
        """Send ``header`` and read the reply; ``timeout`` is the CPU seconds the worker may use
        for it (see the module's docstring)."""
        process = self._process
        try:
            wire.write_message(process.stdin, header, arrays)
        except (BrokenPipeError, OSError):
            raise self._died(what) from None
        started = time.monotonic()
        wall = timeout * WALL_FACTOR
        # A reply that comes within `timeout` seconds of wall-clock time cannot have used more CPU
        # than that (one thread): most calls are answered long before their CPU is ever looked at.
        next_look = started + timeout
        fd = process.stdout.fileno()
        # What has come from the pipe and is not read yet: a reply of many small arrays is read in
        # large chunks, not one select and one read per array.
        pending, position = bytearray(), 0

        def read(size: int) -> bytes:
            nonlocal pending, position
            while len(pending) - position < size:
                if position:
                    del pending[:position]
                    position = 0
                pending += fill(size - len(pending))
            position += size
            return bytes(pending[position - size : position])

        def fill(size: int) -> bytes:
            nonlocal next_look
            chunks, left = [], size
            while left:
                now = time.monotonic()
                ready, _, _ = select.select([fd], [], [], max(0.0, min(next_look, started + wall) - now))
                if not ready:
                    now = time.monotonic()
                    if now >= started + wall:
                        raise TimeoutError(self._wall_message(what, wall))
                    usage = self._usage()
                    if usage is None:  # no /proc to read it from: the wall clock is all there is
                        raise TimeoutError(self._cpu_message(what, timeout, now - started, "wall-clock"))
                    used, stopped = usage
                    if stopped:  # it will not compute again: no need to wait for the wall clock
                        raise TimeoutError(
                            f"{what}: timed out: its process was stopped (SIGSTOP, or a debugger) and had "
                            f"not answered after {now - started:.3g} s; it was killed and will be restarted"
                        )
                    if used > timeout:
                        raise TimeoutError(self._cpu_message(what, timeout, used, "CPU"))
                    next_look = now + max(MIN_POLL, timeout - used)
                    continue
                chunk = os.read(fd, max(left, 1 << 16))
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                left -= min(left, len(chunk))
            return b"".join(chunks)

        try:
            reply = wire.read_message(read, REPLY_LIMIT)
        except TimeoutError as exc:
            self.stop()
            message = str(exc)
            for call in header.get("calls", []):
                self.timed_out.setdefault(call["fn"], message)
            raise CallFailed(message) from None
        except EOFError:
            error = self._died(what)
            for name in header.get("calls", []):
                self.timed_out.setdefault(name["fn"], str(error).splitlines()[0])
            raise error from None
        except ValueError as exc:  # a header or array that does not parse
            self.stop()
            raise CallFailed(f"{what}: the candidate's process sent a malformed reply ({exc})") from None
        cpu = reply[0].get("cpu") if isinstance(reply[0], dict) else None
        if isinstance(cpu, (int, float)) and not isinstance(cpu, bool) and cpu >= 0:
            self._cpu = float(cpu)
        return reply

    def _usage(self) -> tuple[float, bool] | None:
        """CPU seconds the worker's processes used since its last reply, and whether one of them
        is stopped; None where the system cannot tell (no ``/proc``)."""
        tree = process_tree(self._process.pid)
        if tree is None:
            return None
        return max(0.0, tree.cpu - self._cpu_offset - self._cpu), tree.stopped

    @staticmethod
    def _cpu_message(what: str, limit: float, used: float, clock: str) -> str:
        return (
            f"{what}: timed out: used {used:.3g} s of {clock} time, more than its limit of {limit:g} s "
            "(set by --candidate-timeout); its process was killed and will be restarted"
        )

    def _wall_message(self, what: str, wall: float) -> str:
        usage = self._usage()
        cpu = f" and used {usage[0]:.3g} s of CPU" if usage is not None else ""
        return (
            f"{what}: timed out after {wall:g} s of wall-clock time: it did not answer{cpu} (it sleeps or "
            f"waits; the wall-clock bound is {WALL_FACTOR:g} times the --candidate-timeout); its process was "
            "killed and will be restarted"
        )

    def _died(self, what: str) -> CallFailed:
        process = self._process
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        tail = self.stderr_tail()
        self.stop()
        how = "was killed by a signal" if code is not None and code < 0 else f"exited with code {code}"
        message = f"{what}: crashed: the candidate's process {how} (os._exit, a segfault, or a kill)"
        if tail:
            message += "; the last lines it printed:\n" + tail
        return CallFailed(message)


class TreeUsage(NamedTuple):
    cpu: float
    """CPU seconds (user and system) of the processes, the children they reaped included."""
    stopped: bool
    """Whether one of them is stopped (``SIGSTOP``, or traced)."""


def process_tree(root: int) -> TreeUsage | None:
    """The CPU time of process ``root`` and every process below it, and whether one of them is
    stopped; None where ``/proc`` cannot tell.

    The whole tree, because under bubblewrap ``root`` is ``bwrap`` and the candidate runs in its
    child. The tree is found from each process's parent in ``/proc/PID/stat`` (``/proc/PID/task/
    TID/children`` exists only on kernels built with it). Read only for a call that is slow to
    answer, so its cost (one small file per process on the machine) is paid rarely.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    ticks: dict[int, int] = {}
    stopped: set[int] = set()
    children: dict[int, list[int]] = {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                text = f.read()
            # The command name (field 2) is in parentheses and may hold anything: split after it.
            fields = text[text.rindex(b")") + 2 :].split()
            state, parent = fields[0], int(fields[1])
            # utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the name.
            used = sum(int(value) for value in fields[11:15])
        except (OSError, ValueError, IndexError):
            continue  # gone since the listing, or unreadable
        ticks[int(entry)] = used
        if state in (b"T", b"t"):
            stopped.add(int(entry))
        children.setdefault(parent, []).append(int(entry))
    if root not in ticks:
        return None
    total, halted, stack = 0, False, [root]
    while stack:
        pid = stack.pop()
        total += ticks[pid]
        halted = halted or pid in stopped
        stack.extend(children.get(pid, ()))
    return TreeUsage(total / CLOCK_TICKS, halted)
