"""Where a binding's calls run: in a candidate's worker process, or in this process (an API's
oracle; a candidate the benchmarks time, or the harness's own tests grade in-process)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from gradproof.grading.calls import Call, Reply
from gradproof.grading.process import Worker

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


class WorkerExecutor:
    """Runs the candidate's functions in its worker process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._reset = False

    def reset(self) -> None:
        """Drop the caches the worker keeps, with the next request."""
        self._reset = True

    def _request(self, calls: list[Call]) -> list[Reply]:
        reset, self._reset = self._reset, False
        return self.worker.call_many(calls, reset=reset)

    def invoke(self, call: Call) -> Reply:
        (reply,) = self._request([dataclasses.replace(call, return_args=True)])
        # What the call did to its array arguments, done to ours: the contracts check sees mutation.
        for sent, back in zip(call.args, reply.args or [], strict=False):
            if isinstance(sent, np.ndarray) and isinstance(back, np.ndarray) and back.shape == sent.shape:
                if sent.flags.writeable and not np.array_equal(sent, back, equal_nan=True):
                    np.copyto(sent, back, casting="unsafe")
        return reply

    def invoke_many(self, calls: list[Call]) -> list[Reply]:
        replies = []
        for start in range(0, len(calls), CHUNK):
            chunk = [
                dataclasses.replace(c, store=(), return_args=False) for c in calls[start : start + CHUNK]
            ]
            replies += [Reply(reply.value, None) for reply in self._request(chunk)]
        return replies
