"""gradproof's core: the op registry, comparison against one tolerance table, finite differences,
strategies for valid inputs, and the checks every property runs.

The core knows nothing of the reference ops (they register into it, like any plug-in) nor of
grading (which sits on top of it); ``lint-imports`` checks this in CI.
"""
