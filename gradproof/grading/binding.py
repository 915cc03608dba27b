"""How a course API is bound to the ops gradproof checks: calls, bindings, and the Api they make up.

An API (``native``, ``cs231n``, ``coursera``) is a list of :class:`Binding`: for one op, which
functions of the candidate implement it, how to call them, and what they return. The same binding
calls the candidate (in its worker process) and the API's oracle, a module implementing the
convention exactly over the NumPy reference (``gradproof.grading.courses.<course>_oracle``), so
every check compares like with like, and every message is in the candidate's own terms: its
argument names, its layout.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradproof.core.checks import CallFailed
from gradproof.grading.calls import Call


def course_of(convention: str) -> str:
    """The course a ``--convention`` value names: ``cs231n`` of ``cs231n-2017``."""
    return convention.split("-")[0]


@dataclass(frozen=True)
class Sides:
    """The two sides a grading check compares, for a binding's own checks: the candidate's op (its
    functions run in its process) and the oracle's (the course's convention, in this process), and
    the course year graded against (or None)."""

    candidate: Any
    oracle: Any
    convention: Any = None


@dataclass(frozen=True)
class RandomDraw:
    """Opt-in part of a :class:`Binding` for an op that draws random numbers (dropout): no oracle
    reproduces another program's draw, so the oracle replays the candidate's.

    ``replay(example, out) -> Example`` is the example the oracle is called with, given the
    candidate's forward output ``out`` (the mask read from where it is 0).
    """

    replay: Callable[[Any, np.ndarray], Any]


@dataclass(frozen=True)
class PinnedTies:
    """Opt-in part of a :class:`Binding` for max pooling, whose course pins where a tied maximum's
    gradient goes: the forward and backward are also compared with the oracle on examples with
    ties (finite differences cannot judge a gradient there, so the other checks keep to the
    binding's ``examples``), and a backward that follows another rule is told which.

    ``examples``: the examples of the comparisons, ties included. ``explain(example, dout, grads)
    -> str or None``: the first line of a failure that another tie rule accounts for entirely.
    """

    examples: Any
    explain: Callable[[Any, np.ndarray, dict], str | None]


@dataclass(frozen=True)
class Variant:
    """Opt-in part of a :class:`Binding` whose template changed over the years in a way a
    candidate's code shows, not only its results (cs231n's group-norm ``gamma``: ``(C,)`` in 2019,
    ``(1, C, 1, 1)`` from 2021): what this variant is, in words, and a fixed example on which code
    written for another variant fails. Where no ``--convention`` chose the year, the candidate is
    graded on the variant it was written for (:meth:`GradedOp.settle`), with a note.
    """

    describe: str
    probe: Any


@dataclass(frozen=True)
class Binding:
    """How one op of an API is called.

    Attributes
    ----------
    op : str
        The op's name in test ids and the grade table.
    functions : tuple of str
        The functions of the candidate it needs: the forward first.
    examples : hypothesis strategy of Example
        Inputs in the API's own terms (names, layout, parameter keys).
    differentiable : tuple of str
    reference : str or None
        The registered op it is graded like: its tolerances and kinks apply.
    forward_call : callable
        ``forward_call(arrays, hparams) -> Call``.
    forward_result : callable
        ``forward_result(value, args_after, hparams) -> (out, cache, extras)``; ``extras`` maps a
        quantity (``running_mean``, ...) to the array the call left behind. Raises
        :class:`CallFailed` on a malformed return value.
    backward : callable or None
        ``backward(invoke, dout, cache) -> grads``, calling the candidate through ``invoke(Call)``;
        None for an op with a forward only (``zero_pad``), graded on its forward and contracts.
    to_reference : callable, optional
        ``to_reference(example) -> Example`` of the reference op, for its kinks.
    checks : tuple of callables
        ``check(sides, example, context)`` (:class:`Sides`), run by the forward and backward checks
        before the comparison with the oracle: what the comparison cannot see (the fraction of
        units a dropout keeps, an activation applied).
    random : RandomDraw, optional
        For an op that draws random numbers.
    ties : PinnedTies, optional
        For max pooling, whose course pins a convention at ties.
    forward_only : hypothesis strategy of Example, optional
        Examples on which only the forward is graded: a mode the template never backpropagates
        through (batch norm's test mode, whose cache the cs231n template leaves None). The backward,
        finite-difference and contracts checks keep to ``examples``.
    variant : Variant, optional
        For an op whose template's shapes changed over the years.
    documented_cache : callable, optional
        ``documented_cache(example) -> cache``: the cache the API documents (the Coursera notebook's
        ``(A_prev, W, b, hparameters)``; the bootcamp's backward takes its inputs again), built from
        the example, so that the backward is graded on its own: a forward that fails (or fails on
        this NumPy only) does not take the backward's points with it, and the backward's own bugs
        are still found.
    """

    op: str
    functions: tuple[str, ...]
    examples: Any
    differentiable: tuple[str, ...]
    reference: str | None
    forward_call: Callable[[tuple, dict], Call]
    forward_result: Callable[[Any, Any, dict], tuple]
    backward: Callable[[Callable, np.ndarray, Any], Any] | None
    to_reference: Callable | None = None
    checks: tuple[Callable, ...] = ()
    random: RandomDraw | None = None
    ties: PinnedTies | None = None
    forward_only: Any = None
    variant: Variant | None = None
    documented_cache: Callable[[Any], Any] | None = None

    @property
    def forward_examples(self):
        """The examples the forward is compared with the oracle's on."""
        if self.forward_only is None:
            return self.oracle_examples
        from hypothesis import strategies as st

        return st.one_of(self.oracle_examples, self.forward_only)

    @property
    def oracle_examples(self):
        """The examples the forward and backward are compared with the oracle's on."""
        return self.examples if self.ties is None else self.ties.examples

    def oracle_example(self, example, out: np.ndarray):
        """The example the oracle is called with, given the candidate's forward output."""
        return example.copy() if self.random is None else self.random.replay(example.copy(), out)


@dataclass(frozen=True)
class OptimizerBinding:
    """An optimizer of an API: ``fn(w, dw, config) -> (next_w, config)`` style update rules.

    ``configs`` draws the hyperparameters put in the first call's config; ``state`` names the keys
    the update keeps in the config, compared after every step.
    """

    name: str
    fn: str
    configs: Any
    state: tuple[str, ...]
    call: Callable[[np.ndarray, np.ndarray, dict, int], Call] | None = None
    """``call(w, dw, config, step) -> Call`` for an update rule of another shape (the bootcamp's
    ``update_variables_Adam(alpha, ..., var, grad, v, s, t)``); None for ``fn(w, dw, config)``."""
    unpack: Callable[[Any, dict], tuple[Any, dict]] | None = None
    """``unpack(value, config) -> (next_w, next_config)`` of what ``call`` returned."""


@dataclass(frozen=True)
class Api:
    name: str
    bindings: tuple[Binding, ...]
    optimizers: tuple[OptimizerBinding, ...]
    oracle: str | Callable[[Any], Any]
    """Module implementing the convention over the reference: its name, or a function making it
    for a convention (the object ``convention`` returns)."""
    convention: Callable[[str | None], Any] | None = None
    """For a course whose conventions changed over the years: ``convention(name)`` parses a
    ``--convention`` value (``cs231n-2017``), or gives the default, marked as assumed, for None.
    The object has ``name``, ``assumed``, ``affects`` and ``describe()``."""
    arity: dict[str, int] = field(default_factory=dict)
    """Template function -> its number of parameters, for functions another API names alike."""
    assignments: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The template's files (or projects) and the units each asks for: a candidate that implements
    a unit of one is graded on all of its units, a missing one scoring 0, so that a grade's
    denominator does not depend on what the student left out. Empty for an API that is a library,
    not an assignment (native): there only what a candidate implements is graded."""
    numpy: str | None = None
    """The NumPy release the course ran, where it is not today's (the Coursera notebook: NumPy 1):
    its candidates are graded with it where ``gradproof numpy-env`` installed it."""
    variants: Callable[[Binding, Any], tuple[Binding, ...]] | None = None
    """``variants(binding, convention)``: the binding as the convention's template has it, first,
    then as other years' templates have it (:class:`Variant`); None where no template changed."""

    def required(self, implemented, convention=None) -> list[str]:
        """The units of every template file ``implemented`` has a unit of (those ``convention``'s
        template asks for), in the template's order."""
        implemented, units = set(implemented), []
        for _, members in self.assignments:
            if implemented & set(members):
                units += [u for u in members if convention is None or convention.asks_for(u)]
        return units

    def for_convention(self, binding: Binding, convention) -> tuple[Binding, ...]:
        """``binding`` as ``convention``'s template has it, then its other years' variants."""
        if self.variants is None or convention is None:
            return (binding,)
        return self.variants(binding, convention)

    def oracle_module(self, convention=None):
        if isinstance(self.oracle, str):
            return importlib.import_module(self.oracle)
        return self.oracle(convention)

    def choose_convention(self, names: list[str]):
        """This API's convention among the ``--convention`` values (checked by
        :func:`check_conventions`), or None for an API without conventions."""
        if self.convention is None:
            return None
        return self.convention(next((name for name in names if course_of(name) == self.name), None))

    def implemented(self, names) -> tuple[list[Binding], list[Binding]]:
        """The bindings ``names`` implements, and the rest. A binding counts as implemented when the
        candidate defines one of its functions that no other binding uses (``batchnorm_backward_alt``
        shares ``batchnorm_forward`` with ``batchnorm``, and needs its own backward to count)."""
        names = set(names)
        uses: dict[str, int] = {}
        for b in self.bindings:
            for fn in b.functions:
                uses[fn] = uses.get(fn, 0) + 1
        have, missing = [], []
        for b in self.bindings:
            own = {fn for fn in b.functions if uses[fn] == 1} or set(b.functions)
            (have if names & own else missing).append(b)
        return have, missing

    def implemented_optimizers(self, names) -> tuple[list[OptimizerBinding], list[OptimizerBinding]]:
        names = set(names)
        have = [o for o in self.optimizers if o.fn in names]
        return have, [o for o in self.optimizers if o.fn not in names]

    def score(self, names, params: dict | None = None) -> int:
        """How many of this API's functions ``names`` defines (to detect the API), counting a
        function of :attr:`arity` only when its number of parameters (``params``, where known)
        is the template's: the Coursera notebook's ``conv_forward`` takes 4, the bootcamp's 6."""
        params = params or {}
        functions = {fn for b in self.bindings for fn in b.functions} | {o.fn for o in self.optimizers}
        return sum(
            1
            for fn in functions & set(names)
            if fn not in self.arity or fn not in params or params[fn] == self.arity[fn]
        )


# -- helpers for writing bindings -------------------------------------------------------------------


def expect_tuple(value, length: int, what: str, names: str) -> tuple:
    """``value`` as a tuple of ``length``, or a CallFailed that says what came back instead."""
    if isinstance(value, (tuple, list)) and len(value) == length:
        return tuple(value)
    if isinstance(value, (tuple, list)):
        got = f"a {type(value).__name__} of {len(value)} values"
    elif value is None:
        got = "None: not implemented yet, or a missing return"
    else:
        got = f"a {type(value).__name__}"
    raise CallFailed(f"{what} returned {got}, expected {length} values ({names})")


def layer(
    op: str,
    forward_fn: str,
    backward_fn: str,
    examples,
    differentiable: tuple[str, ...],
    reference: str,
    *,
    args: Callable[[tuple, dict], tuple] = lambda arrays, hparams: (*arrays,),
    kwargs: Callable[[tuple, dict], dict] = lambda arrays, hparams: {},
    extras: Callable[[list, dict], dict] | None = None,
    backward_kwargs: dict | None = None,
    to_reference: Callable | None = None,
) -> Binding:
    """The common shape: ``forward(...) -> (out, cache)`` and ``backward(dout, cache) -> grads``.

    ``args``/``kwargs`` build the forward's arguments from the example's arrays and hyperparameters;
    ``extras(args_after, hparams)`` reads quantities the forward leaves in its arguments.
    """
    grads = ", ".join(f"d{name}" for name in differentiable)

    def forward_call(arrays, hparams):
        return Call(
            forward_fn,
            args(arrays, hparams),
            kwargs(arrays, hparams),
            store=(1,),
            return_args=extras is not None,
        )

    def forward_result(value, args_after, hparams):
        out, cache = expect_tuple(value, 2, forward_fn, "out, cache")
        found = extras(args_after, hparams) if extras is not None else {}
        return out, cache, found

    def backward(invoke, dout, cache):
        value = invoke(Call(backward_fn, (dout, cache), dict(backward_kwargs or {})))
        if len(differentiable) == 1:
            return value
        return expect_tuple(value, len(differentiable), backward_fn, grads)

    return Binding(
        op,
        (forward_fn, backward_fn),
        examples,
        differentiable,
        reference,
        forward_call,
        forward_result,
        backward,
        to_reference,
    )
