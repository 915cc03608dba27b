"""What the grading process asks of an implementation, and what comes back: the same objects whether
it runs in a worker process (:mod:`~gradproof.grading.process`) or in this one (an oracle)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    """A call of one function of the candidate (or oracle)."""

    fn: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    store: tuple[int, ...] = ()
    """Positions of a returned tuple to keep where the function ran (caches)."""
    return_args: bool = False
    """Send back the arguments after the call (to see what it did to a parameter dict)."""


@dataclass
class Reply:
    """A call's return value, and its arguments after the call when they were asked for."""

    value: object
    args: list | None = None
    kept: dict[int, list] | None = None
    """For a call given a kept cache (a backward): the arguments of the call that made the cache
    (the forward's inputs), as they are after this call."""
