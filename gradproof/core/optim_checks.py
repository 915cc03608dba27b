"""The checks behind the optimizer properties, written once for any optimizer spec."""

from __future__ import annotations

import numpy as np

from gradproof.core.compare import assert_close
from gradproof.core.registry import OptimizerSpec


def _describe(param, grads, hparams) -> str:
    settings = ", ".join(f"{key}={value!r}" for key, value in hparams.items())
    return f"  param {param.shape}, {len(grads)} steps; {settings}"


def init_state(spec: OptimizerSpec, param, hparams):
    """``spec.init`` with the hyperparameters it takes; those not given keep their defaults."""
    return spec.init(param, **{name: hparams[name] for name in spec.init_hparams if name in hparams})


def check_trajectory(spec: OptimizerSpec, param, grads, hparams, context: str = "") -> None:
    """Every step's parameter, and every state entry the twin keeps, equal the ``torch.optim`` twin's
    for the same gradients, in float64."""
    __tracebackhide__ = True
    import torch

    text = _describe(param, grads, hparams) + (f"\n{context}" if context else "")
    tol = spec.tolerance("oracle")
    twin_param = torch.tensor(param, dtype=torch.float64, requires_grad=True)
    twin = spec.torch_class()([twin_param], **hparams)
    ours, state = param.copy(), init_state(spec, param, hparams)
    for t, grad in enumerate(grads, start=1):
        ours, state = spec.step(ours, grad, state, **hparams)
        twin_param.grad = torch.tensor(grad, dtype=torch.float64)
        twin.step()
        assert_close(
            ours,
            twin_param.detach().numpy(),
            tol=tol,
            quantity=f"{spec.name} param after step {t}",
            context=text,
            got_label="step",
            expected_label="torch.optim",
        )
        for key, value in twin.state[twin_param].items():
            if key not in state:
                raise AssertionError(f"{spec.name}: no state entry {key!r}, which torch.optim keeps\n{text}")
            assert_close(
                np.asarray(state[key], dtype=np.float64),
                value.detach().numpy(),
                tol=tol,
                quantity=f"{spec.name} state {key!r} after step {t}",
                context=text,
                got_label="step",
                expected_label="torch.optim",
            )


def check_step_is_pure(spec: OptimizerSpec, param, grads, hparams) -> None:
    """A step mutates none of its arguments, and shares no memory with them: the caller may update
    the returned parameter and state in place without touching the old ones."""
    __tracebackhide__ = True
    text = _describe(param, grads, hparams)
    state = init_state(spec, param, hparams)
    for t, grad in enumerate(grads, start=1):
        arguments = {"param": param, "grad": grad, **{f"state entry {k!r}": v for k, v in state.items()}}
        before = {name: np.copy(value) for name, value in arguments.items()}
        new_param, new_state = spec.step(param, grad, state, **hparams)
        for name, value in arguments.items():
            if not np.array_equal(before[name], value):
                raise AssertionError(f"{spec.name} step {t}: mutated its {name}\n{text}")
        returned = {"param": new_param, **{f"state entry {k!r}": v for k, v in new_state.items()}}
        for out_name, out in returned.items():
            for in_name, value in arguments.items():
                if (
                    isinstance(out, np.ndarray)
                    and isinstance(value, np.ndarray)
                    and np.shares_memory(out, value)
                ):
                    raise AssertionError(
                        f"{spec.name} step {t}: returned {out_name} shares memory with its argument "
                        f"{in_name}\n{text}"
                    )
        param, state = new_param, new_state
