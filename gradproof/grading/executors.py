"""Where a binding's calls run: in a candidate's worker process, or in this process (an API's
oracle; a candidate the benchmarks time, or the harness's own tests grade in-process)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from gradproof.grading.calls import Call, Reply
from gradproof.grading.process import Worker
from gradproof.grading.wire import Handle

CHUNK = 256
"""Forward calls per request when finite differences batch them."""


class LocalExecutor:
    """Runs a module's functions in this process: an API's oracle, on copies of the arguments, or
    (``copy=False``) a candidate the benchmarks time, on the arguments themselves."""

    def __init__(self, module, *, copy: bool = True) -> None:
        self.module = module
        self.copy = copy

    def invoke(self, call: Call) -> Reply:
        function = getattr(self.module, call.fn)
        args, kwargs = call.args, call.kwargs
        if self.copy:
            args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        return Reply(function(*args, **kwargs), list(args))

    def invoke_many(self, calls: list[Call]) -> list[Reply]:
        return [self.invoke(call) for call in calls]

    def reset(self) -> None:
        pass


def _mirror(sent, back) -> None:
    """Copy into the arrays we ``sent`` what the call left in its copies of them (``back``)."""
    for ours, theirs in zip(sent, back or [], strict=False):
        if isinstance(ours, np.ndarray) and isinstance(theirs, np.ndarray) and theirs.shape == ours.shape:
            if ours.flags.writeable and not np.array_equal(ours, theirs, equal_nan=True):
                np.copyto(ours, theirs, casting="unsafe")


class WorkerExecutor:
    """Runs the candidate's functions in its worker process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._reset = False
        self._made: dict[int, tuple] = {}
        """Handle id -> the arguments (ours) of the call that made it."""

    def reset(self) -> None:
        """Drop the caches the worker keeps, with the next request."""
        self._reset = True
        self._made.clear()

    def _request(self, calls: list[Call]) -> list[Reply]:
        reset, self._reset = self._reset, False
        return self.worker.call_many(calls, reset=reset)

    def invoke(self, call: Call) -> Reply:
        (reply,) = self._request([dataclasses.replace(call, return_args=True)])
        # What the call did to its array arguments, done to ours: the contracts check sees mutation,
        # also of a forward's inputs that a backward reached through the cache.
        _mirror(call.args, reply.args)
        for id, back in (reply.kept or {}).items():
            _mirror(self._made.get(id, ()), back)
        if isinstance(reply.value, tuple):
            for item in reply.value:
                if isinstance(item, Handle):
                    self._made[item.id] = call.args
        return reply

    def invoke_many(self, calls: list[Call]) -> list[Reply]:
        replies = []
        for start in range(0, len(calls), CHUNK):
            chunk = [
                dataclasses.replace(c, store=(), return_args=False) for c in calls[start : start + CHUNK]
            ]
            replies += [Reply(reply.value, None) for reply in self._request(chunk)]
        return replies
