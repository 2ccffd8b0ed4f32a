"""The reconstructions' echo series on disk: magnitude and phase NIfTI pairs with sidecars."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.studies.qsm.images import load_echo_series, save_echo_series
from qmrflow.studies.qsm.recon import MultiEcho


def _series(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(3, 6, 7, 5)) + 1j * rng.normal(size=(3, 6, 7, 5))).astype(
        np.complex64
    )
    echoes = MultiEcho(images, np.array([0.005, 0.01, 0.015]), (4, 5, 5))
    affine = np.diag([2.0, 2.0, 2.5, 1.0])
    mag, phase = tmp_path / "a_part-mag_MEGRE.nii.gz", tmp_path / "a_part-phase_MEGRE.nii.gz"
    save_echo_series(echoes, affine, mag, phase, field_strength=3.0, method="CR")
    return echoes, mag, phase


def test_a_series_round_trips_with_its_acquisition_facts(tmp_path):
    echoes, mag, phase = _series(tmp_path)
    back = load_echo_series(mag, phase, subject="01")
    np.testing.assert_allclose(back.echoes.images, echoes.images, atol=1e-5)
    np.testing.assert_allclose(back.echoes.echo_times, echoes.echo_times)
    assert back.echoes.encoded == (4, 5, 5)
    assert back.voxel_mm == (2.0, 2.0, 2.5) and back.field_strength == 3.0
    assert json.loads(phase.with_suffix("").with_suffix(".json").read_text())["Units"] == "rad"


def test_echo_times_that_do_not_match_the_echoes_are_refused(tmp_path):
    _, mag, phase = _series(tmp_path)
    sidecar = mag.with_suffix("").with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["EchoTime"] = meta["EchoTime"][:2]
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(InputDataError, match=r"sub-01.*EchoTime has 2 value"):
        load_echo_series(mag, phase, subject="01")
