"""Grading: every candidate (``candidates/``, or those named with ``--candidate``) against the
reference, through the API it is written to. The tests live in :mod:`gradproof.grade_tests`, so
that ``gradproof grade`` runs the very same ones outside this repository."""

from gradproof.grade_tests import (  # noqa: F401 - collected by pytest
    test_backward,
    test_backward_matches_own_forward,
    test_candidate_imports,
    test_contracts,
    test_forward,
    test_optimizer_trajectory,
)
