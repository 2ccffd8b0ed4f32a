"""BIDS IRT1 collections (qmrflow.studies.breathing.inversion)."""

import json

import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io.bids import sidecar_path
from qmrflow.studies.breathing.inversion import load_inversions, save_inversions

AFFINE = np.diag([4.0, 4.0, 8.0, 1.0])


def collection(tmp_path, times=(0.8, 0.1, 0.4, 1.6, 3.0)):
    images = np.stack([np.full((4, 5), t, np.float32) for t in times], axis=-1)
    paths = [tmp_path / f"sub-b1_inv-{k + 1}_IRT1.nii.gz" for k in range(len(times))]
    save_inversions(images, times, AFFINE, paths, sidecar={"MagneticFieldStrength": 1.5})
    return paths


def test_read_sorted_by_inversion_time(tmp_path):
    series = load_inversions(collection(tmp_path), subject="b1")
    np.testing.assert_allclose(series.inversion_times, [0.1, 0.4, 0.8, 1.6, 3.0])
    np.testing.assert_allclose(series.images[0, 0], series.inversion_times)
    assert series.images.shape == (4, 5, 5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"InversionTime": 800}, "milliseconds"),
        ({"InversionTime": "soon"}, "numeric InversionTime"),
        ({"InversionTime": 0.1}, "occur twice"),
        ({}, "numeric InversionTime"),
    ],
)
def test_bad_sidecars_name_subject_file_and_problem(tmp_path, edit, message):
    paths = collection(tmp_path)
    sidecar_path(paths[2]).write_text(json.dumps(edit))
    with pytest.raises(InputDataError, match=message) as error:
        load_inversions(paths, subject="b1")
    assert "sub-b1" in str(error.value)


def test_too_few_images_are_refused(tmp_path):
    with pytest.raises(InputDataError, match="at least 4"):
        load_inversions(collection(tmp_path, (0.1, 0.5, 1.0)), subject="b1")
