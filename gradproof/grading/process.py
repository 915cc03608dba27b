"""The process a candidate runs in, seen from the grading side.

A candidate's code never runs in the grading process: :class:`Worker` spawns ``python -m
gradproof.grading.worker`` (a fresh interpreter, not a fork), which imports the candidate and
evaluates the :class:`~gradproof.grading.calls.Call` objects sent to it. A call that raises, hangs
past its timeout, or kills the worker comes back as a :class:`~gradproof.core.checks.CallFailed`
that says which; a dead worker is restarted on the next call.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gradproof.core.checks import CallFailed
from gradproof.grading import sandbox, wire
from gradproof.grading.calls import Call, Reply
from gradproof.grading.candidates import Candidate

DEFAULT_TIMEOUT = 5.0
"""Seconds a single call may take; a batch of n calls gets n times as long."""
IMPORT_TIMEOUT = 60.0
"""Seconds the candidate's import may take (importing torch alone takes several)."""
STDERR_LINES = 15
REPLY_LIMIT = 256 << 20
"""Bytes a reply may hold: the examples are small, and a candidate's process that sends more (an
array far larger than its inputs) fails that call instead of filling the grader's memory."""


REFUSED = ("torch", "jax", "jaxlib", "tensorflow", "autograd", "gradproof", "reference")
"""What a course API's candidate may not import: a NumPy assignment is not solved by another
library's autograd or by the grader's own reference. The sandbox does not even bind them; the
worker refuses them also where it runs without one."""


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
        env, cwd = launch.env, None  # the sandbox's working directory is set inside it
        if launch.isolation == "none":
            # The candidate runs in an empty directory of its own: files it writes land there.
            self._home = tempfile.TemporaryDirectory(prefix=f"gradproof-{self.candidate.name}-")
            env, cwd = {**env, "HOME": self._home.name}, self._home.name
        self._process = subprocess.Popen(
            launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=cwd,
            env=env,
            start_new_session=True,  # a candidate's signal to its group cannot reach pytest
            preexec_fn=sandbox.apply_limits,
        )
        target = {"kind": self.candidate.kind, "target": launch.target}
        target["module_name"] = f"gradproof_candidate_{self.candidate.name}"
        if not self.packages:
            target["refuse"] = list(REFUSED)
        try:
            header, _ = self._exchange({"load": target}, [], IMPORT_TIMEOUT, "importing the candidate")
        except CallFailed as exc:
            self.load_error = str(exc)
            return
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
            for stream in (self._process.stdin, self._process.stdout):
                stream.close()
            self._process = None
        if self._home is not None:
            self._home.cleanup()
            self._home = None

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
        process = self._process
        try:
            wire.write_message(process.stdin, header, arrays)
        except (BrokenPipeError, OSError):
            raise self._died(what) from None
        deadline = time.monotonic() + timeout
        fd = process.stdout.fileno()

        def read(size: int) -> bytes:
            chunks, left = [], size
            while left:
                remaining = deadline - time.monotonic()
                ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
                if not ready:
                    raise TimeoutError
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)

        try:
            return wire.read_message(read, REPLY_LIMIT)
        except TimeoutError:
            self.stop()
            message = (
                f"{what}: timed out after {timeout:g} s (the limit is set by --candidate-timeout); "
                "its process was killed and will be restarted"
            )
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
