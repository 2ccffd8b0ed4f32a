"""Small simulated breathing subjects written in the study's input layout (shared fixtures)."""

import pytest

from qmrflow.studies.breathing.simulate import SimulationSettings
from qmrflow.studies.breathing.simulate.files import OUTPUT_KEYS, simulate_subject

#: 48 x 48 at 8 mm, 2 coils, 5 frames per second: a subject in about a second.
SMALL = SimulationSettings(matrix=(48, 48), voxel_mm=8.0, n_coils=2, samples=96, frame_s=0.2)
PEOPLE = {
    "b901": {
        "participant_id": "b901",
        "group": "patient",
        "severity": 0.8,
        "paradoxical": "right",
        "diaphragm_fat": 0.3,
    },
    "b902": {
        "participant_id": "b902",
        "group": "control",
        "severity": 0.0,
        "paradoxical": "none",
        "diaphragm_fat": 0.05,
    },
}


def subject_files(root, subject):
    """Output paths of simulate_subject for one subject under ``root``."""
    files = {}
    for key in OUTPUT_KEYS:
        if key.startswith("kspace_"):
            files[key] = root / f"sub-{subject}_task-{key[7:]}_kspace.h5"
        elif key.startswith(("curves_", "truth")):
            files[key] = root / f"sub-{subject}_{key}.tsv"
        elif key != "inversions":
            files[key] = root / f"sub-{subject}_{key}.nii.gz"
    files["inversions"] = [
        root / f"sub-{subject}_inv-{k + 1}_IRT1.nii.gz" for k in range(len(SMALL.ir_times))
    ]
    return files


@pytest.fixture(scope="session")
def written(tmp_path_factory):
    """Two subjects (a paradoxical patient and a control): subject -> output paths."""
    root = tmp_path_factory.mktemp("breathing")
    out = {}
    for subject, row in PEOPLE.items():
        files = subject_files(root, subject)
        simulate_subject(row, settings=SMALL, seed=3, outputs=files)
        out[subject] = files
    return out
