"""The op registry: one small frozen spec per op, registered by a decorator or through an entry point.

A spec says everything the properties need to test an op: the NumPy reference (forward and
backward), the PyTorch twin, a Hypothesis strategy of valid examples, which inputs are
differentiable, where the op's kinks are (:mod:`gradproof.core.kinks`), and tolerance overrides with
reasons.

Ops outside this repository register through the entry-point group ``gradproof.ops``: the entry
point names a module, and importing it runs its ``@op`` decorators. This repository's own
``reference`` package is registered the same way (see ``pyproject.toml``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradproof.core.compare import Tolerance, ToleranceOverride, tolerance_for
from gradproof.core.kinks import Kinks

ENTRY_POINT_GROUP = "gradproof.ops"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Example:
    """One drawn input of an op: its arrays, in call order, and its hyperparameters.

    >>> ex = Example(inputs={"x": np.zeros((2, 3)), "w": np.zeros((3, 4))}, hparams={"stride": 2})
    >>> ex.describe()
    'x (2, 3), w (3, 4); stride=2'
    """

    inputs: Mapping[str, np.ndarray]
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """Shapes (and non-float dtypes) of the inputs, then the hyperparameters, on one line."""
        arrays = ", ".join(
            f"{name} {value.shape}" + ("" if value.dtype == np.float64 else f" {value.dtype}")
            for name, value in self.inputs.items()
        )
        hparams = ", ".join(f"{key}={value!r}" for key, value in self.hparams.items())
        return f"{arrays}; {hparams}" if hparams else arrays

    def copy(self) -> Example:
        return Example({name: value.copy() for name, value in self.inputs.items()}, dict(self.hparams))


@dataclass(frozen=True, init=False)
class OpSpec:
    """Everything the properties need to know about one op.

    Attributes
    ----------
    name : str
        Lower-case identifier; it appears in every test id, so ``pytest -k NAME`` selects the op.
    forward : callable
        ``forward(*example.inputs.values(), **example.hparams) -> (out, cache)``.
    backward : callable or None
        ``backward(dout, cache) -> grads``: one array per name in ``differentiable``, in that order
        (a bare array when there is one). None only for an op graded on its forward alone (a
        course's ``zero_pad``): the checks that need a backward do not apply to it.
    twin : callable
        The same op written with PyTorch, taking and returning tensors:
        ``twin(*tensors, **example.hparams) -> tensor``. Its module must not import torch at import
        time; import it inside the function.
    examples : hypothesis strategy of Example
        Valid inputs by construction: every example it draws must be one the op is defined on.
    differentiable : tuple of str
        The inputs the backward pass differentiates, in the order ``backward`` returns them.
    kinks : Kinks, optional
        Where the op is not differentiable (:mod:`gradproof.core.kinks`): the strategy keeps a margin
        from them, the gradient check refuses an example inside its step, and the at-kink property
        compares the op with its twin on them. ``None``: the op is differentiable everywhere, which
        the undeclared-kink property checks.
    tolerances : tuple of ToleranceOverride
        Exceptions to the tolerance table, each with its reason.
    kink_distance : callable, optional
        Only a keyword, for a spec that knows its kinks' distance and nothing more (a candidate's op
        graded like a reference op): ``OpSpec(..., kink_distance=f)`` declares
        ``Kinks(distance=f, not_pinned=...)``. Read back, :attr:`kink_distance` is
        ``kinks.distance``, or ``None``.
    """

    name: str
    forward: Callable[..., tuple[Any, Any]]
    backward: Callable[[Any, Any], Any] | None
    twin: Callable[..., Any]
    examples: Any
    differentiable: tuple[str, ...]
    kinks: Kinks | None = None
    tolerances: tuple[ToleranceOverride, ...] = ()

    # Written out (init=False) only to take the keyword kink_distance beside the fields: a dataclass
    # InitVar would not do, as dataclasses.replace() reads it back and would redeclare kinks removed.
    def __init__(
        self,
        name: str,
        forward: Callable[..., tuple[Any, Any]],
        backward: Callable[[Any, Any], Any],
        twin: Callable[..., Any],
        examples: Any,
        differentiable: tuple[str, ...],
        kinks: Kinks | None = None,
        tolerances: tuple[ToleranceOverride, ...] = (),
        *,
        kink_distance: Callable[[Example], float] | None = None,
    ) -> None:
        if kink_distance is not None:
            if kinks is not None:
                raise ValueError(f"op {name}: give kinks or kink_distance, not both")
            kinks = Kinks(
                where="where its kink_distance measures",
                distance=kink_distance,
                not_pinned="declared by a kink_distance only, with no onto",
            )
        fields = {
            "name": name,
            "forward": forward,
            "backward": backward,
            "twin": twin,
            "examples": examples,
            "differentiable": differentiable,
            "kinks": kinks,
            "tolerances": tolerances,
        }
        for key, value in fields.items():
            object.__setattr__(self, key, value)
        self._validate()

    def _validate(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"op name {self.name!r} must be lower-case letters, digits and '_'")
        if isinstance(self.differentiable, str) or not self.differentiable:
            raise ValueError(f"op {self.name}: differentiable must be a non-empty tuple of input names")
        object.__setattr__(self, "differentiable", tuple(self.differentiable))
        object.__setattr__(self, "tolerances", tuple(self.tolerances))
        for override in self.tolerances:
            if not isinstance(override, ToleranceOverride):
                raise TypeError(f"op {self.name}: tolerances must be ToleranceOverride, not {override!r}")
        if self.kinks is not None and not isinstance(self.kinks, Kinks):
            raise TypeError(f"op {self.name}: kinks must be a gradproof.core.kinks.Kinks, not {self.kinks!r}")

    def __repr__(self) -> str:
        # Pytest prints the spec in every failing traceback; its name and home say which it is.
        return f"OpSpec({self.name!r} from {self.source})"

    def tolerance(self, check: str, dtype=np.float64) -> Tolerance:
        return tolerance_for(check, dtype, self.tolerances)

    @property
    def source(self) -> str:
        """The module that defines the reference forward."""
        return getattr(self.forward, "__module__", "?")

    @property
    def kink_distance(self) -> Callable[[Example], float] | None:
        """``kinks.distance``, or ``None`` when the op declares no kinks."""
        return None if self.kinks is None else self.kinks.distance


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer: a pure step function and its ``torch.optim`` twin.

    Attributes
    ----------
    name : str
    step : callable
        ``step(param, grad, state, **hparams) -> (new_param, new_state)``; never mutates its arguments.
        State keys are named as in the twin's ``optimizer.state[param]``, so that they compare directly.
    init : callable
        ``init(param, **{k: hparams[k] for k in init_hparams}) -> state``.
    twin : str
        Dotted path of the ``torch.optim`` class taking the same hyperparameters, e.g.
        ``"torch.optim.SGD"``; imported only when a property needs it.
    hparams : hypothesis strategy of dict
        Valid hyperparameters, edge values included.
    init_hparams : tuple of str
        The hyperparameters ``init`` takes.
    invalid : tuple of dict
        Hyperparameter overrides that must raise ``ValueError`` naming the first key.
    tolerances : tuple of ToleranceOverride
    """

    name: str
    step: Callable
    init: Callable
    twin: str
    hparams: Any
    init_hparams: tuple[str, ...] = ()
    invalid: tuple[dict, ...] = ()
    tolerances: tuple[ToleranceOverride, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"optimizer name {self.name!r} must be lower-case letters, digits and '_'")

    def __repr__(self) -> str:
        return f"OptimizerSpec({self.name!r})"

    def tolerance(self, check: str, dtype=np.float64) -> Tolerance:
        return tolerance_for(check, dtype, self.tolerances)

    def torch_class(self):
        module, _, name = self.twin.rpartition(".")
        return getattr(importlib.import_module(module), name)


_specs: dict[str, OpSpec] = {}
_optimizers: dict[str, OptimizerSpec] = {}
_plugin_errors: dict[str, str] = {}
_plugins_loaded = False


def register(spec: OpSpec) -> OpSpec:
    """Add ``spec`` to the registry; a second op of the same name is an error."""
    if not isinstance(spec, OpSpec):
        raise TypeError(f"register() takes an OpSpec, not {type(spec).__name__}")
    existing = _specs.get(spec.name)
    if existing is not None and existing is not spec:
        raise ValueError(f"op {spec.name!r} is registered twice: by {existing.source} and by {spec.source}")
    _specs[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove an op (for tests that register throw-away ops)."""
    _specs.pop(name, None)


def op(
    name: str,
    *,
    forward: Callable,
    backward: Callable,
    examples: Any,
    differentiable: tuple[str, ...],
    kinks: Kinks | None = None,
    tolerances: tuple[ToleranceOverride, ...] = (),
) -> Callable[[Callable], Callable]:
    """Register an op; decorates its PyTorch twin and returns the twin unchanged.

    Examples
    --------
    ::

        RELU_KINK = kinks.at_values("x", (0.0,))

        @op("relu", forward=relu_forward, backward=relu_backward,
            examples=RELU_KINK.keep_away(relu_examples()), differentiable=("x",), kinks=RELU_KINK)
        def relu_twin(x):
            import torch
            return torch.relu(x)
    """

    def decorate(twin: Callable) -> Callable:
        register(
            OpSpec(
                name=name,
                forward=forward,
                backward=backward,
                twin=twin,
                examples=examples,
                differentiable=differentiable,
                kinks=kinks,
                tolerances=tolerances,
            )
        )
        return twin

    return decorate


def optimizer(
    name: str,
    *,
    init: Callable,
    twin: str,
    hparams: Any,
    init_hparams: tuple[str, ...] = (),
    invalid: tuple[dict, ...] = (),
    tolerances: tuple[ToleranceOverride, ...] = (),
) -> Callable[[Callable], Callable]:
    """Register an optimizer; decorates its step function and returns it unchanged."""

    def decorate(step: Callable) -> Callable:
        spec = OptimizerSpec(
            name, step, init, twin, hparams, tuple(init_hparams), tuple(invalid), tuple(tolerances)
        )
        existing = _optimizers.get(name)
        if existing is not None and existing is not spec:
            raise ValueError(
                f"optimizer {name!r} is registered twice: by {existing.step.__module__} and by "
                f"{step.__module__}"
            )
        _optimizers[name] = spec
        return step

    return decorate


def all_optimizers() -> list[OptimizerSpec]:
    """Every registered optimizer, plug-ins included, sorted by name."""
    load_plugins()
    return [_optimizers[name] for name in sorted(_optimizers)]


def load_plugins() -> None:
    """Import every module named in the ``gradproof.ops`` entry-point group, once.

    A plug-in that fails to import does not stop the others: its traceback is kept for
    :func:`plugin_errors`, which the properties report as a failed test.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception:
            _plugin_errors[f"{entry_point.name} = {entry_point.value}"] = traceback.format_exc()


def plugin_errors() -> dict[str, str]:
    """Entry points of ``gradproof.ops`` that failed to load, with their tracebacks."""
    load_plugins()
    return dict(_plugin_errors)


def all_specs() -> list[OpSpec]:
    """Every registered op, plug-ins included, sorted by name."""
    load_plugins()
    return [_specs[name] for name in sorted(_specs)]


def get(name: str) -> OpSpec:
    load_plugins()
    try:
        return _specs[name]
    except KeyError:
        raise KeyError(f"no op named {name!r}; registered: {', '.join(sorted(_specs))}") from None
