import importlib.metadata

import numpy as np
import pytest
from hypothesis import strategies as st

from gradproof.core import registry
from gradproof.core.compare import Tolerance, ToleranceOverride
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
