"""Tests of qmrflow.studies.synthmri.protocol: the MDME signal model and sidecar validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io.bids import sidecar_path
from qmrflow.studies.synthmri.protocol import (
    DEFAULT_PROTOCOL,
    MdmeProtocol,
    mdme_signal,
    read_sidecar,
    write_sidecar,
)


def test_default_protocol_is_four_delays_by_two_echoes_delay_major():
    assert DEFAULT_PROTOCOL.n_volumes == 8
    assert DEFAULT_PROTOCOL.delays[:4] == (150.0, 150.0, 580.0, 580.0)
    assert DEFAULT_PROTOCOL.echo_times[:4] == (20.0, 100.0, 20.0, 100.0)


def test_signal_limits_of_the_saturation_recovery_equation():
    protocol = MdmeProtocol((1e-6, 1e6), (1e-6, 1e-6), 2e6, 90.0, 90.0)
    # A 90° saturation: zero signal right after it, full recovery (PD) after a long delay.
    signal = mdme_signal(1000.0, 80.0, 0.7, 1.0, protocol)
    assert signal == pytest.approx([0.0, 0.7], abs=1e-6)
    # T2 decay between the echoes of one delay is exp(-ΔTE/T2).
    values = mdme_signal(830.0, 70.0, 0.69, 1.0, DEFAULT_PROTOCOL)
    assert values[1] / values[0] == pytest.approx(np.exp(-(100 - 20) / 70.0))


def test_signal_equation_by_hand_and_broadcasting():
    t1, t2, pd, b1 = 1330.0, 90.0, 0.8, 1.1
    p = DEFAULT_PROTOCOL
    theta, alpha = np.deg2rad(p.saturation_angle) * b1, np.deg2rad(p.excitation_angle) * b1
    e = np.exp(-p.repetition_time / t1)
    expected = [
        abs(
            pd
            * np.exp(-te / t2)
            * (1 - (1 - np.cos(theta)) * np.exp(-td / t1) - np.cos(theta) * e)
            / (1 - np.cos(theta) * np.cos(alpha) * e)
        )
        for td, te in zip(p.delays, p.echo_times, strict=True)
    ]
    assert mdme_signal(t1, t2, pd, b1, p) == pytest.approx(expected)
    maps = mdme_signal(np.full((3, 2), t1), t2, pd, b1, p)
    assert maps.shape == (3, 2, 8)
    assert maps[2, 1] == pytest.approx(expected)


def test_sidecar_round_trip(tmp_path):
    image = tmp_path / "sub-01_acq-fast_MDME.nii.gz"
    write_sidecar(DEFAULT_PROTOCOL, image)
    assert sidecar_path(image) == tmp_path / "sub-01_acq-fast_MDME.json"
    assert read_sidecar(image, 8, subject="01") == DEFAULT_PROTOCOL


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"EchoTime": [20.0] * 4 + [100.0] * 3}, "EchoTime has 7 value"),
        ({"SaturationDelayTime": [0.0] * 8}, "SaturationDelayTime must be positive"),
        ({"RepetitionTime": -1}, "RepetitionTime must be positive"),
        ({"RepetitionTime": "long"}, "RepetitionTime must be a number"),
        ({"SaturationDelayTime": [DEFAULT_PROTOCOL.repetition_time / 1000] * 8}, "shorter than"),
        ({"EchoTime": [0.02] * 8}, "2 distinct"),
        # BIDS times are seconds: milliseconds are refused, never rescaled by guess
        ({"EchoTime": [20.0] * 4 + [100.0] * 4}, r"EchoTime .* seconds \(these look like milli"),
        ({"RepetitionTime": 4000.0}, "RepetitionTime .* not a plausible time in seconds"),
        ({"SaturationDelayTime": [1e-6] * 8}, "expected 0.0001-30 s"),
        ({"SaturationFlipAngle": 200}, "flip angles out of range"),
        ({"FlipAngle": None}, "FlipAngle must be"),
    ],
)
def test_bad_sidecar_names_subject_file_and_problem(tmp_path, change, match):
    image = tmp_path / "sub-07_acq-routine_MDME.nii.gz"
    meta = {**DEFAULT_PROTOCOL.to_sidecar(), **change}
    sidecar_path(image).write_text(json.dumps(meta))
    with pytest.raises(InputDataError, match=match) as info:
        read_sidecar(image, 8, subject="07")
    assert str(info.value).startswith(f"sub-07: {sidecar_path(image)}")


def test_missing_or_broken_sidecar(tmp_path):
    image = tmp_path / "sub-07_acq-routine_MDME.nii.gz"
    with pytest.raises(InputDataError, match="sidecar missing"):
        read_sidecar(image, 8, subject="07")
    sidecar_path(image).write_text("{not json")
    with pytest.raises(InputDataError, match="not valid JSON"):
        read_sidecar(image, 8, subject="07")
    sidecar_path(image).write_text("{}")
    with pytest.raises(InputDataError, match="has no 'SaturationDelayTime'"):
        read_sidecar(image, 8, subject="07")
