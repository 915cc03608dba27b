"""gradproof: prove backpropagation code right or wrong.

The engine: finite differences (:mod:`gradproof.fd`), comparison against one tolerance table
(:mod:`gradproof.compare`), the op registry (:mod:`gradproof.registry`), strategies for valid inputs
(:mod:`gradproof.strategies`), the checks every property runs (:mod:`gradproof.checks`) and the
pytest plugin (:mod:`gradproof.plugin`).
"""

from gradproof.compare import Tolerance, ToleranceOverride, assert_close, tolerance_for
from gradproof.registry import Example, OpSpec, all_specs, get, op, register

__all__ = [
    "Example",
    "OpSpec",
    "Tolerance",
    "ToleranceOverride",
    "all_specs",
    "assert_close",
    "get",
    "op",
    "register",
    "tolerance_for",
]
