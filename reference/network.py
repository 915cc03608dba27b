r"""A tiny container for networks built from the reference ops.

A network is a tree of three kinds of node, all immutable and all with the same two methods:

* :class:`Layer`: one reference op, with the names of its parameters in the network's parameter
  dict;
* :class:`Sequential`: nodes one after the other;
* :class:`Residual`: ``x + body(x)``; :class:`Parallel`: branches on the same input, concatenated.

``node.run(x, params, kinks=None) -> (out, cache)`` and ``node.grad(dout, cache) -> (dx, grads)``,
where ``grads`` maps parameter names to gradients (summed when a parameter is used twice). Passing
a list as ``kinks`` collects, for every op with a kink, how far this input sits from it in
activation space.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from reference.combine import concat_backward, concat_forward


def _merge(into: dict, grads: Mapping) -> dict:
    for name, grad in grads.items():
        into[name] = into[name] + grad if name in into else grad
    return into


@dataclass(frozen=True)
class Layer:
    """One reference op in a network.

    ``forward(x, *params, *buffers, **hparams)``; ``backward`` returns ``dx`` then one gradient per
    name in ``params``. ``buffers`` are inputs that are not differentiated (running statistics).
    ``kink(x, **hparams) -> float`` says how far ``x`` sits from the op's nearest kink.
    """

    forward: Callable
    backward: Callable
    params: tuple[str, ...] = ()
    buffers: tuple[str, ...] = ()
    hparams: Mapping = field(default_factory=dict)
    kink: Callable | None = None

    def run(self, x, params, kinks=None):
        if kinks is not None and self.kink is not None:
            kinks.append(self.kink(x, **self.hparams))
        return self.forward(x, *(params[name] for name in self.params + self.buffers), **self.hparams)

    def grad(self, dout, cache):
        grads = self.backward(dout, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return grads[0], dict(zip(self.params, grads[1:], strict=True))


@dataclass(frozen=True)
class Sequential:
    nodes: tuple

    def run(self, x, params, kinks=None):
        caches = []
        for node in self.nodes:
            x, cache = node.run(x, params, kinks)
            caches.append(cache)
        return x, caches

    def grad(self, dout, cache):
        grads: dict = {}
        for node, node_cache in zip(reversed(self.nodes), reversed(cache), strict=True):
            dout, node_grads = node.grad(dout, node_cache)
            _merge(grads, node_grads)
        return dout, grads


@dataclass(frozen=True)
class Residual:
    """``x + body(x)``: the skip connection of a ResNet block."""

    body: Sequential

    def run(self, x, params, kinks=None):
        out, cache = self.body.run(x, params, kinks)
        return x + out, cache

    def grad(self, dout, cache):
        dx, grads = self.body.grad(dout, cache)
        return dout + dx, grads


@dataclass(frozen=True)
class Parallel:
    """Branches on the same input, concatenated along ``axis``: an Inception module."""

    branches: tuple
    axis: int = 1

    def run(self, x, params, kinks=None):
        outs, caches = zip(*(branch.run(x, params, kinks) for branch in self.branches), strict=True)
        out, concat_cache = concat_forward(*outs, axis=self.axis)
        return out, (caches, concat_cache)

    def grad(self, dout, cache):
        caches, concat_cache = cache
        dx, grads = 0.0, {}
        for branch, branch_cache, branch_dout in zip(
            self.branches, caches, concat_backward(dout, concat_cache), strict=True
        ):
            branch_dx, branch_grads = branch.grad(branch_dout, branch_cache)
            dx = dx + branch_dx
            _merge(grads, branch_grads)
        return dx, grads


def distance_to_zero(x, **_):
    """ReLU's kink is at 0."""
    return float(np.min(np.abs(x)))


def half_top_two_gap(x, *, kernel_size, stride=None, padding=0):
    """Max pooling's kink is a tie for a window's maximum: half the smallest gap between a window's
    two largest values (padding, at minus infinity, never ties)."""
    from reference.pooling import _pool_geometry
    from reference.windows import pad, windows

    kernel, stride, padding = _pool_geometry(kernel_size, stride, padding)
    flat = windows(pad(x, padding, value=-np.inf), kernel, stride).reshape(
        *x.shape[:2], -1, kernel[0] * kernel[1]
    )
    if flat.shape[-1] < 2:
        return np.inf
    top_two = np.sort(flat, axis=-1)[..., -2:]
    # A runner-up of minus infinity (padding, or masked) cannot tie: no gap to close.
    with np.errstate(invalid="ignore"):
        gaps = np.where(np.isfinite(top_two[..., 0]), top_two[..., 1] - top_two[..., 0], np.inf)
    return float(np.min(gaps) / 2)


def half_top_two_gap_after_relu(x, **hparams):
    """As :func:`half_top_two_gap`, for a max pool fed by a ReLU: a window whose maximum is 0 is a
    window of zeros on the ReLU's flat side, where no small move of the inputs can break the tie
    (the ReLU's own margin keeps their inputs negative), so it is no kink."""
    return half_top_two_gap(np.where(x > 0, x, -np.inf), **hparams)
