"""gradproof: prove backpropagation code right or wrong.

The engine: finite differences (:mod:`gradproof.core.fd`), comparison against one tolerance table
(:mod:`gradproof.core.compare`), the op registry (:mod:`gradproof.core.registry`) and its kink declarations
(:mod:`gradproof.core.kinks`), strategies for valid inputs
(:mod:`gradproof.core.strategies`), the checks every property runs (:mod:`gradproof.core.checks`) and the
pytest plugin (:mod:`gradproof.plugin`).

To check one backward pass from a notebook or a script: :func:`gradproof.check` (and
:func:`gradproof.assert_check`, :func:`gradproof.check_op`), from :mod:`gradproof.notebook`, imported
on first use.
"""

from gradproof.core import kinks
from gradproof.core.compare import Tolerance, ToleranceOverride, assert_close, tolerance_for
from gradproof.core.kinks import Kinks
from gradproof.core.registry import Example, OpSpec, all_specs, get, op, register

# Imported on first use (``__getattr__`` below), so that ``import gradproof`` stays cheap.
_NOTEBOOK = ("check", "assert_check", "check_op", "CheckResult", "CheckFailed")

__all__ = [
    "CheckFailed",
    "CheckResult",
    "Example",
    "Kinks",
    "OpSpec",
    "Tolerance",
    "ToleranceOverride",
    "all_specs",
    "assert_check",
    "assert_close",
    "check",
    "check_op",
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
    if name in _NOTEBOOK:
        from gradproof import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'gradproof' has no attribute {name!r}")
