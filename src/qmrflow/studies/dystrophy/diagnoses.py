"""The diagnostic labels of the dystrophy study (Yang et al. 2021): which diagnoses are positive.

This labels real data (the participants table's ``diagnosis`` column), so it lives apart from
the demo simulator, which only draws cohorts with these labels.
"""

POSITIVE_DIAGNOSES: frozenset[str] = frozenset({"DMD", "BMD"})
"""Diagnoses counted as dystrophinopathy (the positive class): Duchenne and Becker."""


def is_positive(diagnosis: str) -> bool:
    """Whether a participant's diagnosis is a dystrophinopathy."""
    return diagnosis in POSITIVE_DIAGNOSES
