import dataclasses
import importlib.metadata

import numpy as np
import pytest
from hypothesis import strategies as st

from gradproof.core import kinks, registry
from gradproof.core.compare import Tolerance, ToleranceOverride
from gradproof.core.kinks import Kinks
from gradproof.core.registry import Example, OpSpec, op

REFERENCE_OPS = {"affine", "mse_loss", "relu", "sigmoid", "softmax_cross_entropy", "tanh"}


@pytest.fixture
def clean_registry(monkeypatch):
    """A registry of its own for the test; the real one comes back afterwards."""
    monkeypatch.setattr(registry, "_specs", {})
    monkeypatch.setattr(registry, "_plugin_errors", {})
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    return registry


def identity_forward(x):
    return x, None


def identity_backward(dout, cache):
    return dout


def make_spec(name="identity", **changes):
    fields = {
        "name": name,
        "forward": identity_forward,
        "backward": identity_backward,
        "twin": lambda x: x,
        "examples": st.just(Example(inputs={"x": np.zeros(2)})),
        "differentiable": ("x",),
    }
    return OpSpec(**{**fields, **changes})


def test_reference_ops_are_registered_through_the_entry_point():
    names = {spec.name for spec in registry.all_specs()}
    assert names >= REFERENCE_OPS
    assert registry.get("affine").differentiable == ("x", "w", "b")
    assert not registry.plugin_errors()


def test_decorator_registers_and_returns_the_twin(clean_registry):
    def twin(x):
        return x

    returned = op(
        "doubled",
        forward=identity_forward,
        backward=identity_backward,
        examples=st.nothing(),
        differentiable=("x",),
    )(twin)
    assert returned is twin
    assert clean_registry.get("doubled").twin is twin


def test_second_op_of_the_same_name_is_an_error(clean_registry):
    registry.register(make_spec())
    with pytest.raises(
        ValueError, match=r"op 'identity' is registered twice: by tests\.test_registry and by"
    ):
        registry.register(make_spec())


def test_unknown_op_lists_the_known_ones(clean_registry):
    registry.register(make_spec())
    with pytest.raises(KeyError, match="no op named 'nope'; registered: identity"):
        registry.get("nope")


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"name": "Conv2D"}, ValueError, "lower-case"),
        ({"differentiable": "x"}, ValueError, "non-empty tuple"),
        ({"differentiable": ()}, ValueError, "non-empty tuple"),
        ({"tolerances": (Tolerance(1, 1),)}, TypeError, "ToleranceOverride"),
        ({"kinks": lambda example: 1.0}, TypeError, "kinks must be a gradproof.core.kinks.Kinks"),
        (
            {"kinks": kinks.at_values("x", (0.0,)), "kink_distance": lambda example: 1.0},
            ValueError,
            "give kinks or kink_distance, not both",
        ),
    ],
)
def test_spec_is_validated(changes, error, match):
    with pytest.raises(error, match=match):
        make_spec(**changes)


def test_spec_is_frozen_and_carries_its_overrides():
    override = ToleranceOverride("fd", "float64", 1e-4, 1e-2, reason="demo")
    spec = make_spec(tolerances=[override])
    assert spec.tolerance("fd") == Tolerance(1e-4, 1e-2)
    with pytest.raises(AttributeError):
        spec.name = "other"


def test_spec_declares_its_kinks_once_and_reads_back_their_distance():
    at_zero = kinks.at_values("x", (0.0,))
    spec = make_spec(kinks=at_zero)
    assert spec.kinks is at_zero
    assert spec.kink_distance is at_zero.distance
    assert spec.kink_distance(Example({"x": np.array([0.5, -0.25])})) == 0.25
    assert make_spec().kinks is None
    assert make_spec().kink_distance is None


def test_replace_keeps_or_removes_the_kinks():
    spec = make_spec(kinks=kinks.at_values("x", (0.0,)))
    assert dataclasses.replace(spec, name="other").kinks is spec.kinks
    assert dataclasses.replace(spec, kinks=None).kinks is None


def test_a_bare_kink_distance_declares_kinks_that_are_not_pinned():
    # The keyword a spec built around a distance alone passes (gradproof.grading's bind()).
    spec = make_spec(kink_distance=lambda example: 0.125)
    assert spec.kinks.onto is None
    assert "kink_distance only" in spec.kinks.not_pinned
    assert spec.kink_distance(Example({"x": np.zeros(2)})) == 0.125


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"where": " "}, "needs where"),
        ({"distance": 1.0}, "distance must be callable"),
        ({}, "give onto .* or not_pinned"),
        ({"onto": lambda example, rng: example, "not_pinned": "both"}, "exactly one"),
    ],
)
def test_kinks_are_validated(fields, match):
    given = {"where": "x = 0", "distance": lambda example: 0.0, **fields}
    with pytest.raises((TypeError, ValueError), match=match):
        Kinks(**given)


def test_kinks_without_away_cannot_keep_a_strategy_away():
    with pytest.raises(ValueError, match="build the examples away from them"):
        kinks.ties("x").keep_away(st.nothing())


def test_decorator_registers_the_kinks(clean_registry):
    at_zero = kinks.at_values("x", (0.0,))
    op(
        "kinked",
        forward=identity_forward,
        backward=identity_backward,
        examples=st.nothing(),
        differentiable=("x",),
        kinks=at_zero,
    )(lambda x: x)
    assert clean_registry.get("kinked").kinks is at_zero


class FakeEntryPoint:
    def __init__(self, name, target):
        self.name, self.value, self.target = name, f"fake.{name}", target

    def load(self):
        return self.target()


def test_entry_points_load_and_a_broken_plugin_does_not_stop_the_others(clean_registry, monkeypatch):
    def good():
        registry.register(make_spec("from_plugin"))

    def broken():
        raise ImportError("No module named 'missing_dependency'")

    found = [FakeEntryPoint("broken", broken), FakeEntryPoint("good", good)]

    def entry_points(group):
        assert group == "gradproof.ops"
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert [spec.name for spec in registry.all_specs()] == ["from_plugin"]
    errors = registry.plugin_errors()
    assert list(errors) == ["broken = fake.broken"]
    assert "No module named 'missing_dependency'" in errors["broken = fake.broken"]


def test_example_describes_shapes_dtypes_and_hyperparameters():
    example = Example(
        inputs={"x": np.zeros((2, 3)), "y": np.zeros(2, dtype=np.int64)}, hparams={"reduction": "sum"}
    )
    assert example.describe() == "x (2, 3), y (2,) int64; reduction='sum'"
    copy = example.copy()
    copy.inputs["x"][0, 0] = 1.0
    assert example.inputs["x"][0, 0] == 0.0


def test_example_plugin_package_registers_through_the_entry_point():
    # The README's set-up installs examples/gradproof-swish; its op must then be graded like ours.
    try:
        spec = registry.get("swish")
    except KeyError:
        pytest.fail(
            "op 'swish' is not registered: install the example plug-in, "
            "pip install -e examples/gradproof-swish (the README's set-up command does)"
        )
    assert spec.source == "gradproof_swish"
