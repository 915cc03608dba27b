"""Grading implementations other than the reference: students' code in its own process
(:mod:`~gradproof.grading.process`, :mod:`~gradproof.grading.worker`, :mod:`~gradproof.grading.wire`),
loaded as handed in (:mod:`~gradproof.grading.loader`), bound to the ops through a course API
(:mod:`~gradproof.grading.courses`), checked (:mod:`~gradproof.grading.units`), scored and reported
(:mod:`~gradproof.grading.report`).

Nothing here is imported at package import: a candidate's worker imports this package too, and
must reach no more than it needs.
"""
