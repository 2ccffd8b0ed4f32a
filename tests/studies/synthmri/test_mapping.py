"""MDME mapping: recovery of known T1/T2/PD/B1, masks, contrasts and the per-subject entry point."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from qmrflow.errors import InputDataError
from qmrflow.io import save_nifti
from qmrflow.io.bids import sidecar_path
from qmrflow.studies.synthmri.mapping import (
    CONTRASTS,
    MAP_KEYS,
    MdmeMaps,
    background_mask,
    estimate_noise_sigma,
    fit_mdme,
    image_noise_level,
    map_subject,
    mdme_model,
    normalise_pd,
    smooth_b1,
    synthesize_contrasts,
)
from qmrflow.studies.synthmri.protocol import (
    DEFAULT_PROTOCOL,
    mdme_signal,
    write_sidecar,
)

# Literature 3 T values: T1 (ms), T2 (ms), PD (fraction of water).
TISSUES = {
    "WM": (830.0, 70.0, 0.69),
    "GM": (1330.0, 90.0, 0.80),
    "CSF": (4000.0, 1800.0, 1.00),
    "deepGM": (1100.0, 75.0, 0.78),
    "lesion": (1250.0, 120.0, 0.80),
}


def tissue_grid(per_tissue: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Voxels of every tissue with B1 between 0.8 and 1.2 (1D: voxels)."""
    names = np.repeat(list(TISSUES), per_tissue)
    values = np.array([TISSUES[name] for name in names])
    return {
        "tissue": names,
        "t1": values[:, 0],
        "t2": values[:, 1],
        "pd": values[:, 2],
        "b1": rng.uniform(0.8, 1.2, names.size),
    }


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, sigma, (2, *signal.shape))
    return np.hypot(signal + noise[0], noise[1])


def test_model_matches_signal_equation_and_its_jacobian() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack(
        [
            rng.uniform(100, 5000, 30),
            rng.uniform(10, 2000, 30),
            rng.uniform(0.2, 2, 30),
            rng.uniform(0.5, 1.5, 30),
        ]
    )
    for sigma in (None, 0.05):
        model = mdme_model(DEFAULT_PROTOCOL, sigma)
        signal, jac = model(x)
        if sigma is None:
            np.testing.assert_allclose(signal, mdme_signal(*x.T, DEFAULT_PROTOCOL), rtol=1e-12)
        numeric = np.empty_like(jac)
        for k in range(4):
            h = np.zeros_like(x)
            h[:, k] = 1e-6 * x[:, k]
            numeric[..., k] = (model(x + h)[0] - model(x - h)[0]) / (2 * h[:, k : k + 1])
        np.testing.assert_allclose(jac, numeric, rtol=1e-5, atol=1e-9 * np.abs(jac).max())


def test_rician_mean_model_exceeds_signal_at_low_snr() -> None:
    x = np.array([[830.0, 70.0, 0.69, 1.0]])
    plain, _ = mdme_model(DEFAULT_PROTOCOL)(x)
    floor, _ = mdme_model(DEFAULT_PROTOCOL, 0.05)(x)
    assert np.all(floor > plain)
    high, _ = mdme_model(DEFAULT_PROTOCOL, 1e-6)(x)
    np.testing.assert_allclose(high, plain, rtol=1e-6)


def test_noise_free_fit_recovers_every_tissue() -> None:
    grid = tissue_grid(25, np.random.default_rng(1))
    images = mdme_signal(grid["t1"], grid["t2"], grid["pd"], grid["b1"], DEFAULT_PROTOCOL)
    maps = fit_mdme(images * 1234.0, DEFAULT_PROTOCOL)  # arbitrary receiver scale
    assert isinstance(maps, MdmeMaps)
    assert maps.converged.all()
    for key in ("t1", "t2", "pd", "b1"):
        np.testing.assert_allclose(getattr(maps, key), grid[key], rtol=1e-4, err_msg=key)
    assert maps.pd_reference == pytest.approx(1234.0, rel=1e-4)
    assert np.all(maps.residual < 1e-6)


@pytest.mark.parametrize("noise_correction", [False, True])
def test_fit_at_snr_200_is_accurate(noise_correction: bool) -> None:
    rng = np.random.default_rng(2)
    grid = tissue_grid(300, rng)
    clean = mdme_signal(grid["t1"], grid["t2"], grid["pd"], grid["b1"], DEFAULT_PROTOCOL)
    sigma = 1.0 / 200.0
    maps = fit_mdme(
        rician(clean, sigma, rng),
        DEFAULT_PROTOCOL,
        noise_sigma=sigma if noise_correction else None,
    )
    assert maps.converged.mean() > 0.99
    for tissue in ("WM", "GM", "deepGM", "lesion"):
        voxels = grid["tissue"] == tissue
        for key, abs_limit in (("t1", 0.03), ("t2", 0.02), ("pd", 0.015), ("b1", 0.01)):
            ratio = getattr(maps, key)[voxels] / grid[key][voxels]
            assert abs(np.median(ratio) - 1.0) < 0.01, (tissue, key)
            assert np.median(np.abs(ratio - 1.0)) < abs_limit, (tissue, key)
    csf = grid["tissue"] == "CSF"
    assert abs(np.median(maps.t1[csf] / grid["t1"][csf]) - 1.0) < 0.02


def test_b1_smoothing_improves_t1_at_snr_50() -> None:
    rng = np.random.default_rng(3)
    shape = (40, 40, 1)
    labels = rng.integers(0, 2, shape)  # WM or GM voxels, salt and pepper
    t1 = np.where(labels == 0, 830.0, 1330.0)
    t2 = np.where(labels == 0, 70.0, 90.0)
    pd = np.where(labels == 0, 0.69, 0.80)
    x, y = np.meshgrid(np.linspace(-1, 1, 40), np.linspace(-1, 1, 40), indexing="ij")
    b1 = (1.0 + 0.15 * x * y + 0.05 * x)[..., None]
    sigma = 1.0 / 50.0
    images = rician(mdme_signal(t1, t2, pd, b1, DEFAULT_PROTOCOL), sigma, rng)
    free = fit_mdme(images, DEFAULT_PROTOCOL, noise_sigma=sigma, normalise=False)
    smooth = fit_mdme(
        images, DEFAULT_PROTOCOL, noise_sigma=sigma, normalise=False, b1_smoothing=(3, 3, 0)
    )

    def error(maps: MdmeMaps, key: str, truth: np.ndarray) -> float:
        return float(np.median(np.abs(getattr(maps, key) / truth - 1.0)))

    assert error(smooth, "b1", b1) < 0.5 * error(free, "b1", b1)
    assert error(smooth, "t1", t1) < 0.75 * error(free, "t1", t1)
    assert error(smooth, "t1", t1) < 0.07
    assert abs(np.median(smooth.t1 / t1) - 1.0) < 0.02


def test_known_b1_is_held_fixed() -> None:
    grid = tissue_grid(4, np.random.default_rng(4))
    images = mdme_signal(grid["t1"], grid["t2"], grid["pd"], grid["b1"], DEFAULT_PROTOCOL)
    maps = fit_mdme(images, DEFAULT_PROTOCOL, b1=grid["b1"], normalise=False)
    np.testing.assert_array_equal(maps.b1, grid["b1"])
    np.testing.assert_allclose(maps.t1, grid["t1"], rtol=1e-4)


def test_background_is_zero_in_every_map() -> None:
    rng = np.random.default_rng(5)
    t1 = rng.uniform(700, 1500, (6, 5, 2))
    images = mdme_signal(t1, 80.0, 0.8, 1.0, DEFAULT_PROTOCOL)
    mask = np.zeros((6, 5, 2), dtype=bool)
    mask[1:5, 1:4] = True
    maps = fit_mdme(images, DEFAULT_PROTOCOL, mask=mask, normalise=False)
    for key in ("t1", "t2", "pd", "b1", "residual", "converged"):
        values = getattr(maps, key)
        assert values.shape == mask.shape
        assert not np.any(values[~mask]), key
    np.testing.assert_allclose(maps.t1[mask], t1[mask], rtol=1e-4)
    contrasts = synthesize_contrasts(maps.t1, maps.t2, maps.pd, mask)
    for image in contrasts.values():
        assert not np.any(image[~mask])


def test_fit_rejects_mismatched_input() -> None:
    with pytest.raises(ValueError, match="volumes"):
        fit_mdme(np.ones((3, 7)), DEFAULT_PROTOCOL)
    with pytest.raises(ValueError, match="mask shape"):
        fit_mdme(np.ones((3, 8)), DEFAULT_PROTOCOL, mask=np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="NaN"):
        fit_mdme(np.full((3, 8), np.nan), DEFAULT_PROTOCOL)


def test_pd_reference_falls_back_without_csf(caplog: pytest.LogCaptureFixture) -> None:
    pd = np.linspace(0.1, 2.0, 100)
    t1 = np.full(100, 900.0)
    mask = np.ones(100, dtype=bool)
    with caplog.at_level(logging.WARNING, logger="qmrflow.studies.synthmri.mapping"):
        scaled, reference = normalise_pd(pd, t1, mask)
    assert reference == pytest.approx(np.percentile(pd, 99))
    assert "CSF" in caplog.text
    t1[:30] = 4000.0
    scaled, reference = normalise_pd(pd, t1, mask)
    assert reference == pytest.approx(np.median(pd[:30]))
    np.testing.assert_allclose(scaled, pd / reference)


def test_background_mask_cleans_noise_and_fills_holes() -> None:
    rng = np.random.default_rng(6)
    x, y = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    head = (x - 20) ** 2 + (y - 20) ** 2 < 14**2
    images = np.zeros((40, 40, 2, 8))
    images[head] = 1.0
    images[20, 20] = 0.0  # a hole (e.g. signal void)
    images[3, 3] = 1.0  # an isolated bright noise voxel
    images += rng.rayleigh(0.01, images.shape)
    mask = background_mask(images, threshold=0.05)
    assert mask.shape == (40, 40, 2)
    np.testing.assert_array_equal(mask, np.repeat(head[..., None], 2, axis=2))
    sigma = estimate_noise_sigma(images, mask)
    assert sigma == pytest.approx(0.01, rel=0.05)
    assert estimate_noise_sigma(np.where(mask[..., None], images, 0.0), mask) is None


def test_background_mask_excludes_rician_background_at_snr_50() -> None:
    rng = np.random.default_rng(8)
    x, y = np.meshgrid(np.arange(48), np.arange(48), indexing="ij")
    head = (x - 24) ** 2 + (y - 24) ** 2 < 18**2
    grid = tissue_grid(int(head.sum()), rng)
    t1 = np.full((48, 48), 1000.0)
    t1[head] = rng.permutation(grid["t1"])[: head.sum()]
    clean = mdme_signal(t1, 80.0, np.where(head, 0.8, 0.0), 1.0, DEFAULT_PROTOCOL)
    images = rician(clean, 1.0 / 50.0, rng)[:, :, None]
    # 5 % of the robust maximum is below the largest of 8 background values in many voxels;
    # the noise guard keeps them out.
    assert np.mean(images[~head].max(axis=-1) > 0.05 * np.percentile(images.max(-1), 99)) > 0.2
    mask = background_mask(images)
    np.testing.assert_array_equal(mask[..., 0], head)
    assert 0.6 / 50 < image_noise_level(images) < 1.1 / 50


def test_smooth_b1_reproduces_a_linear_field_up_to_the_edge() -> None:
    rng = np.random.default_rng(9)
    x, y, z = np.meshgrid(np.arange(30), np.arange(34), np.arange(3), indexing="ij")
    field = 0.9 + 0.006 * x - 0.004 * y + 0.01 * z
    mask = (x - 15) ** 2 + (y - 17) ** 2 < 12**2
    smooth = smooth_b1(field, mask.astype(float), (3.0, 3.0, 1.0))
    np.testing.assert_allclose(smooth[mask], field[mask], atol=2e-4)  # ridge: tiny shrinkage
    noisy = field + rng.normal(0.0, 0.03, field.shape)
    smooth = smooth_b1(noisy, mask.astype(float), (3.0, 3.0, 0.0))
    assert np.median(np.abs(smooth - field)[mask]) < 0.01
    np.testing.assert_array_equal(smooth[~mask & ((x - 15) ** 2 + (y - 17) ** 2 > 30**2)], 1.0)


def test_contrasts_have_the_expected_tissue_ordering() -> None:
    names = ["WM", "GM", "CSF", "lesion"]
    t1, t2, pd = (np.array([TISSUES[n][k] for n in names]) for k in range(3))
    images = synthesize_contrasts(t1, t2, pd, np.ones(4, dtype=bool))
    assert list(images) == list(CONTRASTS) == ["T1w", "T2w", "PDw", "FLAIR"]
    wm, gm, csf, lesion = range(4)
    assert images["T1w"][wm] > images["T1w"][gm] > images["T1w"][csf]
    assert images["T2w"][csf] > images["T2w"][gm] > images["T2w"][wm]
    assert images["FLAIR"][csf] < images["FLAIR"][wm] < images["FLAIR"][lesion]
    assert images["FLAIR"][csf] < images["FLAIR"][gm]
    assert images["PDw"][gm] > images["PDw"][wm]


# ----------------------------------------------------------------------------- map_subject

AFFINE = np.array(
    [[2.0, 0.0, 0.0, -40.0], [0.0, 2.0, 0.0, -50.0], [0.0, 0.0, 4.0, 10.0], [0, 0, 0, 1]]
)


def write_subject(folder: Path, shape: tuple[int, int, int] = (32, 32, 2)) -> Path:
    """A small 4D MDME phantom (disk of WM/GM/CSF rings, Rician background) with sidecar."""
    rng = np.random.default_rng(7)
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    r = np.hypot(x - shape[0] / 2, y - shape[1] / 2)[..., None].repeat(shape[2], axis=2)
    tissue = np.select([r < 3, r < 6, r < 9], ["CSF", "WM", "GM"], "")
    t1 = np.array([TISSUES.get(t, (1.0, 1.0, 0.0))[0] for t in tissue.ravel()]).reshape(shape)
    t2 = np.array([TISSUES.get(t, (1.0, 1.0, 0.0))[1] for t in tissue.ravel()]).reshape(shape)
    pd = np.array([TISSUES.get(t, (1.0, 1.0, 0.0))[2] for t in tissue.ravel()]).reshape(shape)
    clean = np.where(pd[..., None] > 0, mdme_signal(t1, t2, pd, 1.05, DEFAULT_PROTOCOL), 0.0)
    images = rician(500.0 * clean, 500.0 / 400.0, rng).astype(np.float32)
    path = folder / "sub-01_acq-routine_MDME.nii.gz"
    save_nifti(images, path, AFFINE)
    write_sidecar(DEFAULT_PROTOCOL, path)
    return path


def outputs_in(folder: Path) -> dict[str, Path]:
    return {key: folder / f"sub-01_{key}.nii.gz" for key in MAP_KEYS}


def test_map_subject_writes_maps_with_the_source_affine(tmp_path: Path) -> None:
    image = write_subject(tmp_path)
    outputs = outputs_in(tmp_path / "out")
    maps = map_subject(image, subject="01", outputs=outputs)
    for key in ("T1map", "T2map", "PDmap", "B1map", "residual", "mask"):
        img = nib.load(outputs[key])
        np.testing.assert_allclose(img.affine, AFFINE)
        assert img.shape == (32, 32, 2)
    assert nib.load(outputs["T1map"]).get_data_dtype() == np.float32
    mask = np.asanyarray(nib.load(outputs["mask"]).dataobj)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask.astype(bool), maps.mask)
    t1 = np.asanyarray(nib.load(outputs["T1map"]).dataobj)
    assert not np.any(t1[~maps.mask])
    synthetic = nib.load(outputs["synthetic"])
    assert synthetic.shape == (32, 32, 2, 4)
    np.testing.assert_allclose(synthetic.affine, AFFINE)
    sidecar = json.loads(sidecar_path(outputs["synthetic"]).read_text())
    assert sidecar["Volumes"] == ["T1w", "T2w", "PDw", "FLAIR"]
    assert sidecar["SequenceParameters"]["FLAIR"] == {
        "RepetitionTime": 11.0,  # BIDS: seconds
        "EchoTime": 0.12,
        "InversionTime": 2.8,
    }
    # Fitted values in the pure-tissue rings (B1 1.05 everywhere).
    x, y = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    r = np.hypot(x - 16, y - 16)
    wm = (r > 3.5) & (r < 5.5)
    assert np.median(maps.t1[wm]) == pytest.approx(830.0, rel=0.03)
    assert np.median(maps.t2[wm]) == pytest.approx(70.0, rel=0.03)
    assert np.median(maps.b1[maps.mask]) == pytest.approx(1.05, rel=0.01)
    assert np.median(maps.pd[wm]) == pytest.approx(0.69, rel=0.05)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"EchoTime": [20.0, 100.0] * 3}, "EchoTime has 6 value"),
        ({"EchoTime": [0.0, 100.0] * 4}, "EchoTime must be positive"),
        (None, "sidecar missing"),
    ],
)
def test_map_subject_rejects_a_wrong_sidecar(
    tmp_path: Path, change: dict[str, object] | None, message: str
) -> None:
    image = write_subject(tmp_path, shape=(8, 8, 1))
    sidecar = sidecar_path(image)
    if change is None:
        sidecar.unlink()
    else:
        meta = json.loads(sidecar.read_text())
        meta.update(change)
        sidecar.write_text(json.dumps(meta))
    outputs = outputs_in(tmp_path / "out")
    with pytest.raises(InputDataError, match=message) as excinfo:
        map_subject(image, subject="01", outputs=outputs)
    assert "sub-01" in str(excinfo.value)
    assert sidecar.name in str(excinfo.value)
    assert not (tmp_path / "out").exists()


def test_map_subject_rejects_bad_images(tmp_path: Path) -> None:
    outputs = outputs_in(tmp_path / "out")
    missing = tmp_path / "sub-01_acq-routine_MDME.nii.gz"
    with pytest.raises(InputDataError, match="file not found") as excinfo:
        map_subject(missing, subject="01", outputs=outputs)
    assert missing.name in str(excinfo.value)
    flat = tmp_path / "flat_MDME.nii.gz"
    save_nifti(np.ones((4, 4, 8), np.float32), flat, AFFINE)
    with pytest.raises(InputDataError, match="expected a 4D image"):
        map_subject(flat, subject="01", outputs=outputs)
    negative = tmp_path / "neg_MDME.nii.gz"
    save_nifti(-np.ones((4, 4, 1, 8), np.float32), negative, AFFINE)
    write_sidecar(DEFAULT_PROTOCOL, negative)
    with pytest.raises(InputDataError, match="negative") as excinfo:
        map_subject(negative, subject="01", outputs=outputs)
    assert negative.name in str(excinfo.value)
    with pytest.raises(KeyError, match="synthetic"):
        map_subject(negative, subject="01", outputs={"T1map": tmp_path / "t1.nii.gz"})
