"""Fixtures of the synthmri tests: a tiny map dataset and a generator trained on it."""

import pytest

from .maps import make_subject, train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthmri")
    return root, {
        label: make_subject(root, label, i) for i, label in enumerate(["a", "b", "c", "d"])
    }


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    return train(dataset, tmp_path_factory.mktemp("model"))
