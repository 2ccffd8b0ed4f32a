"""The registration network's training inputs: the per-subject reference series."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from qmrflow.studies.perfusion.series import load_series
from qmrflow.studies.perfusion.simulate import simulate_subject
from qmrflow.studies.perfusion.training import reference_pairs, write_reference

ROW = {"participant_id": "r01", "ischaemia": "none", "stress_mbf": 3.0}
OPTIONS = {"lambdas": [0.85], "components": [3], "bspline_mesh": None, "affine_iterations": 10}


def test_reference_series_pairs_with_its_frames(tmp_path):
    files = {
        key: tmp_path / f"sub-r01_{key}.nii.gz"
        for key in ("stress", "aif", "stress_pd", "aif_pd", "labels", "segments", "mbf")
    }
    files |= {"mbf_segments": tmp_path / "segments.tsv", "aif_truth": tmp_path / "aif.tsv"}
    simulate_subject(ROW, settings={"n_frames": 12, "n_slices": 1}, seed=3, outputs=files)
    output = tmp_path / "sub-r01_desc-reference_perf.nii.gz"
    write_reference("r01", stress=files["stress"], output=output, options=OPTIONS)
    series = load_series(files["stress"], subject="r01")
    reference = load_series(output, subject="r01")
    assert reference.data.shape == series.data.shape
    np.testing.assert_allclose(reference.frame_times, series.frame_times)
    assert np.isfinite(reference.data).all()
    ((frames, target),) = reference_pairs({"r01": (files["stress"], output)})
    assert frames.shape == target.shape == (12, *series.data.shape[:2])


def test_reference_jobs_import_neither_torch_nor_monai():
    """Each training subject's reference job imports this module: seconds of imports saved."""
    code = (
        "import sys, qmrflow.studies.perfusion.training; "
        "loaded = {m.split('.')[0] for m in sys.modules} & {'torch', 'monai'}; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
