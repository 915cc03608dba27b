"""Grading: every candidate (``candidates/``, or those named with ``--candidate``) against the
reference, through the API it is written to. The tests live in :mod:`gradproof.grading.grade_tests`, so
that ``gradproof grade`` runs the very same ones outside this repository."""

# In the order the grade table reports them: a forward's failure first.
from gradproof.grading.grade_tests import test_candidate_imports  # noqa: F401, I001 - collected by pytest
from gradproof.grading.grade_tests import test_forward  # noqa: F401
from gradproof.grading.grade_tests import test_backward  # noqa: F401
from gradproof.grading.grade_tests import test_backward_matches_own_forward  # noqa: F401
from gradproof.grading.grade_tests import test_contracts  # noqa: F401
from gradproof.grading.grade_tests import test_optimizer_trajectory  # noqa: F401
