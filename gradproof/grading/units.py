"""The graded units: one op or optimizer of one candidate, bound to the ops gradproof checks.

For each op a candidate implements there are two specs with the same examples: the candidate's,
whose functions run in its worker process, and the oracle's, the API's convention implemented over
the reference in this process. The core's checks then apply to the candidate's spec unchanged
(finite differences of its own forward, contracts), and :mod:`gradproof.grading.verdicts` compares
it with the oracle's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from gradproof.core import registry
from gradproof.core.checks import call_forward
from gradproof.core.compare import as_array
from gradproof.core.registry import Example, OpSpec
from gradproof.grading.binding import Api, Binding, OptimizerBinding, Sides
from gradproof.grading.candidates import Candidate
from gradproof.grading.executors import LocalExecutor
from gradproof.grading.shapes import ShapePolicy


@dataclass
class BoundCache:
    """What a bound forward hands its backward: the API's own cache, the quantities the forward
    left behind (running statistics) for the forward check, and its inputs' shapes."""

    inner: Any
    extras: dict
    shapes: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"BoundCache({self.inner!r})"


def bind(binding: Binding, executor, name: str | None = None, shapes: ShapePolicy | None = None) -> OpSpec:
    """An op spec whose forward and backward call ``binding``'s functions through ``executor``;
    with ``shapes``, the gradients a backward returns in a harmless variant of their input's shape
    are reshaped (or fail, when strict), so that every check judges their values."""
    reference = registry.get(binding.reference) if binding.reference else None

    def forward(*arrays, **hparams):
        call = binding.forward_call(arrays, hparams)
        reply = executor.invoke(call)
        out, cache, extras = binding.forward_result(reply.value, reply.args, hparams)
        return out, BoundCache(cache, extras, [np.shape(a) for a in arrays])

    def many(points):
        calls = [binding.forward_call(tuple(args), hparams) for args, hparams in points]
        results = []
        for (_, hparams), reply in zip(points, executor.invoke_many(calls), strict=True):
            out, cache, _ = binding.forward_result(reply.value, reply.args, hparams)
            results.append((as_array(out, f"{binding.functions[0]} (a finite-difference call)"), cache))
        return results

    forward.many = many
    forward.__name__ = binding.functions[0]

    def backward(dout, cache):
        if not isinstance(cache, BoundCache):
            raise TypeError(f"{binding.op} backward: expected the cache of its own forward, got {cache!r}")
        grads = binding.backward(lambda call: executor.invoke(call).value, dout, cache.inner)
        return grads if shapes is None else shapes.gradients(binding, grads, cache.shapes)

    backward.__name__ = binding.functions[-1]
    kink_distance = None
    if reference is not None and reference.kink_distance is not None:
        to_reference = binding.to_reference or (lambda example: example)

        def kink_distance(example: Example) -> float:
            return reference.kink_distance(to_reference(example))

    return OpSpec(
        name=name or binding.op,
        forward=forward,
        backward=None if binding.backward is None else backward,
        twin=reference.twin if reference else None,
        examples=binding.examples,
        differentiable=binding.differentiable,
        kink_distance=kink_distance,
        tolerances=reference.tolerances if reference else (),
    )


class Graded:
    """One op or optimizer of one candidate: the unit of a test id (``alice-conv2d``) and of the
    grade table.

    ``executor`` runs the candidate's functions: a :class:`WorkerExecutor` (its process, started at
    the first call) when grading, a :class:`LocalExecutor` in the harness's own in-process tests.
    ``names`` are the functions the candidate defines, for messages.

    A plain class with a short repr: Hypothesis prints the arguments of a failing test, and the
    student needs the example, not the binding's internals.
    """

    def __init__(
        self,
        candidate: Candidate,
        api: Api,
        binding,
        executor,
        names=frozenset(),
        convention=None,
        shapes: ShapePolicy | None = None,
        strict_ties: bool = False,
    ) -> None:
        self.candidate, self.api, self.binding = candidate, api, binding
        self.executor, self.names = executor, frozenset(names)
        self.convention = convention
        """The course year graded against (:meth:`Api.choose_convention`), or None."""
        self.shapes = shapes if shapes is not None else ShapePolicy()
        self.strict_ties = strict_ties
        """Deduct a backward that follows another tie rule than its course's (``--strict-ties``)."""
        self.placeholders: dict[str, tuple[int, ...]] = {}
        """Function -> positions of its returned values it never computes (:class:`Declared`)."""
        self.notes: dict[str, str] = {}
        """Conventions the template leaves open that this unit's checks met, said without a
        deduction: quantity -> the note."""

    @property
    def unit(self) -> str:
        """The op's or optimizer's name."""
        raise NotImplementedError

    @property
    def functions(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def id(self) -> str:
        return f"{self.candidate.name}-{self.unit}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id}: {' / '.join(self.functions)}, {self.api.name} API)"

    @cached_property
    def local(self) -> LocalExecutor:
        """The API's oracle, run in this process."""
        return LocalExecutor(self.api.oracle_module(self.convention))

    def context(self) -> str:
        missing = [fn for fn in self.functions if fn not in self.names]
        lines = [
            f"  candidate: {self.candidate.name} ({self.candidate.target}), {self.api.name} API: "
            + " / ".join(self.functions)
        ]
        if missing:
            lines.append(f"  not defined by the candidate: {', '.join(missing)}")
        if self.convention is not None:
            lines.append(f"  {self.convention.describe()}")
        return "\n".join(lines)


class GradedOp(Graded):
    binding: Binding
    alternatives: tuple[Binding, ...] = ()
    """Other years' variants of :attr:`binding` (:class:`~gradproof.grading.binding.Variant`),
    tried by :meth:`settle` where no ``--convention`` chose the year."""

    def settle(self) -> None:
        """Grade the variant of the template the candidate was written for, where the year is only
        assumed: the assumed year's unless its probe fails and another's passes, said in a note.
        Called by each grading test before it draws an example; probes once."""
        alternatives, self.alternatives = self.alternatives, ()
        if not alternatives or self._fits(self.binding):
            return
        for binding in alternatives:
            if self._fits(binding):
                assumed = self.binding.variant.describe
                self.binding = binding
                for cached in ("spec", "oracle"):
                    self.__dict__.pop(cached, None)
                self.notes["variant"] = (
                    f"written for {binding.variant.describe}, not {assumed} as in {self.convention.name} "
                    "(assumed): graded that way, without deduction; --convention cs231n-YEAR grades "
                    "one year's template only"
                )
                return

    def _fits(self, binding: Binding) -> bool:
        """Whether the candidate's forward equals the oracle's on ``binding``'s probe."""
        probe = binding.variant.probe
        try:
            got, _ = call_forward(bind(binding, self.executor), probe.copy(), "")
            expected, _ = call_forward(bind(binding, self.local), probe.copy(), "")
        except Exception:
            return False
        got = np.asarray(got)
        return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=1e-6, atol=1e-8))

    @property
    def unit(self) -> str:
        return self.binding.op

    @property
    def functions(self) -> tuple[str, ...]:
        return self.binding.functions

    @cached_property
    def spec(self) -> OpSpec:
        return bind(self.binding, self.executor, shapes=self.shapes)

    @cached_property
    def oracle(self) -> OpSpec:
        return bind(self.binding, self.local)

    @property
    def planned_checks(self) -> int:
        """The grading tests this unit meets: forward, backward, backward against its own forward
        and contracts; an op with a forward only meets two."""
        return 4 if self.binding.backward is not None else 2

    @property
    def sides(self) -> Sides:
        """What a binding's own checks see of this unit."""
        return Sides(self.spec, self.oracle, self.convention)


class GradedOptimizer(Graded):
    binding: OptimizerBinding

    @property
    def unit(self) -> str:
        return self.binding.name

    @property
    def functions(self) -> tuple[str, ...]:
        return (self.binding.fn,)

    @property
    def planned_checks(self) -> int:
        return 1
