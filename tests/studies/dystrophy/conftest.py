"""Fixtures of the dystrophy tests."""

import pytest

from .cohort import make_cohort


@pytest.fixture
def cohort(tmp_path):
    return make_cohort(tmp_path)
