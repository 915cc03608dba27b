"""gradproof: prove backpropagation code right or wrong.

The engine: finite differences (:mod:`gradproof.core.fd`), comparison against one tolerance table
(:mod:`gradproof.core.compare`), the op registry (:mod:`gradproof.core.registry`) and its kink declarations
(:mod:`gradproof.core.kinks`), strategies for valid inputs
(:mod:`gradproof.core.strategies`), the checks every property runs (:mod:`gradproof.core.checks`) and the
pytest plugin (:mod:`gradproof.plugin`).
"""

from gradproof.core import kinks
from gradproof.core.compare import Tolerance, ToleranceOverride, assert_close, tolerance_for
from gradproof.core.kinks import Kinks
from gradproof.core.registry import Example, OpSpec, all_specs, get, op, register

__all__ = [
    "Example",
    "Kinks",
    "OpSpec",
    "Tolerance",
    "ToleranceOverride",
    "all_specs",
    "assert_close",
    "get",
    "kinks",
    "op",
    "register",
    "strategies",
    "tolerance_for",
]


def __getattr__(name: str):
    # `from gradproof import strategies as gs` for plug-ins, without importing Hypothesis into every
    # process that imports gradproof (a candidate's worker imports only what it needs).
    if name == "strategies":
        from gradproof.core import strategies

        return strategies
    raise AttributeError(f"module 'gradproof' has no attribute {name!r}")
