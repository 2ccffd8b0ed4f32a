"""Super-resolution of the fast maps (qmrflow.studies.synthmri.superres) on tiny synthetic maps."""

from pathlib import Path

import numpy as np
import pytest
import torch

from qmrflow.dl.checkpoint import load_checkpoint, save_checkpoint
from qmrflow.errors import InputDataError, ModelError
from qmrflow.io import load_nifti
from qmrflow.studies.synthmri.superres import (
    MAPS,
    check_geometry,
    denormalise,
    load_generator,
    normalise,
    spline_upsample,
    superresolve_subject,
)
from qmrflow.studies.synthmri.superres_training import (
    train_superresolution,
)

from .maps import FAST_AFFINE, ROUTINE_AFFINE, SHAPE, TINY, make_subject


def _outputs(folder):
    return {
        f"{kind}_{key}": folder / f"{kind}_{key}.nii.gz"
        for kind in ("dl", "spline")
        for key in MAPS
    }


def test_normalisation_round_trip_and_range():
    values = {"T1map": [0, 800, 4000, 4500], "T2map": [0, 80, 300, 2000], "PDmap": [0, 0.7, 1.0]}
    for key, raw in values.items():
        raw = np.asarray(raw, dtype=np.float32)
        n = normalise(raw, key)
        assert n.min() >= 0 and n.max() <= 4
        np.testing.assert_allclose(denormalise(n, key), raw, rtol=1e-5)
    assert normalise(np.array([-5.0]), "T1map")[0] == 0
    assert 1 < normalise(np.array([1800.0]), "T2map")[0] < 3  # CSF compressed, not clipped


def test_superresolve_writes_maps_on_the_reference_grid(dataset, trained, tmp_path):
    _, subjects = dataset
    fast, routine, mask = subjects["d"]
    outputs = _outputs(tmp_path)
    superresolve_subject(
        fast=fast,
        reference=routine["T1map"],
        mask=mask,
        model=trained["model"],
        subject="d",
        outputs=outputs,
        threads=1,
    )
    brain = load_nifti(mask).data > 0
    for key, path in outputs.items():
        image = load_nifti(path, dtype=None)
        assert image.data.shape == SHAPE, key
        assert image.data.dtype == np.float32
        np.testing.assert_allclose(image.affine, ROUTINE_AFFINE)
        assert np.all(image.data[~brain] == 0)
        assert np.all(image.data[brain] >= 0)
    t1 = load_nifti(outputs["spline_T1map"]).data[brain]
    assert 700 < np.median(t1) < 1400


def test_superresolve_refuses_a_trainingmake_subject(dataset, trained, tmp_path):
    _, subjects = dataset
    fast, routine, mask = subjects["a"]
    with pytest.raises(ModelError, match=r"sub-a.*trained"):
        superresolve_subject(
            fast=fast,
            reference=routine["T1map"],
            mask=mask,
            model=trained["model"],
            subject="a",
            outputs=_outputs(tmp_path),
        )


def test_a_generator_named_in_the_config_is_checked_against_its_sha256(dataset, trained, tmp_path):
    _, subjects = dataset
    fast, routine, mask = subjects["d"]
    outputs = _outputs(tmp_path)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        superresolve_subject(
            fast=fast,
            reference=routine["T1map"],
            mask=mask,
            model=trained["model"],
            subject="d",
            outputs=outputs,
            sha256="0" * 64,
        )
    assert not any(Path(path).exists() for path in outputs.values())


def test_spline_baseline_of_a_smooth_image_is_close_to_the_truth():
    def truth(x, y):  # world coordinates, mm
        return 1000.0 + 300.0 * np.sin(x / 9.0) * np.cos(y / 11.0)

    def sample(shape, affine):
        index = np.indices(shape).reshape(3, -1)
        world = affine[:3, :3] @ index + affine[:3, 3:4]
        return truth(world[0], world[1]).reshape(shape)

    fast_shape = (SHAPE[0], SHAPE[1] // 2, SHAPE[2])
    mapping = check_geometry(fast_shape, FAST_AFFINE, SHAPE, ROUTINE_AFFINE, (1, 2))
    upsampled = spline_upsample(sample(fast_shape, FAST_AFFINE), mapping, SHAPE)
    expected = sample(SHAPE, ROUTINE_AFFINE)
    interior = (slice(None), slice(2, -2), slice(None))  # edges are extrapolated
    np.testing.assert_allclose(upsampled[interior], expected[interior], atol=5.0)
    assert np.abs(upsampled - expected).max() < 30.0


@pytest.mark.parametrize(
    ("fast_shape", "fast_affine", "message"),
    [
        ((16, 16, 2), FAST_AFFINE, "shape"),
        ((16, 8, 3), FAST_AFFINE, "shape"),
        (None, ROUTINE_AFFINE @ np.diag([1.0, 2.0, 1.0, 1.0]), "field of view"),
    ],
)
def test_geometry_mismatch_raises(dataset, trained, tmp_path, fast_shape, fast_affine, message):
    _, subjects = dataset
    bad = make_subject(tmp_path, "e", 9, fast_shape=fast_shape, fast_affine=fast_affine)
    fast, routine, mask = bad
    with pytest.raises(InputDataError, match=message) as error:
        superresolve_subject(
            fast=fast,
            reference=routine["T1map"],
            mask=mask,
            model=trained["model"],
            subject="e",
            outputs=_outputs(tmp_path),
        )
    assert "sub-e_acq-fast_T1map" in str(error.value)
    assert "sub-e_acq-routine_T1map" in str(error.value)
    with pytest.raises(InputDataError, match=message):
        train_superresolution(
            train=[bad],
            val=[subjects["c"]],
            settings=TINY,
            seed=0,
            outputs={"model": tmp_path / "m.pt", "history": tmp_path / "h.tsv"},
            provenance={},
        )
    assert not (tmp_path / "m.pt").exists()


def test_the_inference_program_matches_the_monai_generator(dataset, trained):
    _, subjects = dataset
    fast, _, _ = subjects["d"]
    x = torch.as_tensor(
        np.stack([normalise(load_nifti(fast[k]).data[..., 0], k) for k in MAPS])[None]
    ).repeat(3, 1, 1, 1)
    cpu = torch.device("cpu")
    program, _, _ = load_generator(trained["model"], cpu)
    generator, _, _ = load_generator(trained["model"], cpu, program=False)
    assert isinstance(generator, torch.nn.Module) and not isinstance(program, torch.nn.Module)
    with torch.no_grad():
        torch.testing.assert_close(program(x), generator(x), atol=1e-5, rtol=1e-5)


def test_a_generator_checkpoint_without_a_program_is_rebuilt(dataset, trained, tmp_path):
    _, subjects = dataset
    fast, routine, mask = subjects["d"]
    checkpoint = load_checkpoint(trained["model"])
    plain = tmp_path / "plain.pt"
    save_checkpoint(checkpoint.state_dict, plain, checkpoint.metadata)
    run, _, _ = load_generator(plain, torch.device("cpu"))
    assert isinstance(run, torch.nn.Module)
    superresolve_subject(
        fast=fast,
        reference=routine["T1map"],
        mask=mask,
        model=plain,
        subject="d",
        outputs=_outputs(tmp_path),
        threads=1,
    )
    assert (tmp_path / "dl_T1map.nii.gz").is_file()
