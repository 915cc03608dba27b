"""NumPy reference implementations with hand-written backward passes: the truth every candidate is
graded against. Importing this package registers every op (it is the ``reference`` entry point of
the ``gradproof.ops`` group)."""

from reference import (
    activations,
    combine,
    conv,
    dropout,
    linear,
    losses,
    lrn,
    network,
    networks,
    norm,
    optim,
    pooling,
    regression_losses,
    softmax,
)

__all__ = [
    "activations",
    "combine",
    "conv",
    "dropout",
    "linear",
    "losses",
    "lrn",
    "network",
    "networks",
    "norm",
    "optim",
    "pooling",
    "regression_losses",
    "softmax",
]
