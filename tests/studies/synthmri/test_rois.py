"""ROIs and per-subject measurements (qmrflow.studies.synthmri.rois) on tiny volumes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.errors import InputDataError
from qmrflow.image_quality import nrmse, psnr, ssim
from qmrflow.io import read_tsv, save_nifti
from qmrflow.studies.synthmri.rois import (
    QUALITY_COLUMNS,
    ROI_COLUMNS,
    TISSUE_CENTROIDS,
    measure_subject,
    roi_masks,
    segment_tissues,
)

SHAPE = (10, 10, 3)
AFFINE = np.diag([2.0, 2.0, 4.0, 1.0])


def phantom():
    """Nested blocks CSF > GM > WM with one deep-GM column, a brain mask and two lesions."""
    tissue = np.zeros(SHAPE, dtype=np.int16)
    tissue[1:9, 1:9, :] = 1  # CSF
    tissue[2:8, 2:8, :] = 2  # GM
    tissue[3:7, 3:7, :] = 3  # WM
    tissue[3, 3, :] = 4  # deep GM
    mask = tissue > 0
    lesions = np.zeros(SHAPE, dtype=np.uint8)
    lesions[5, 5, 1] = 1  # one lesion: a single voxel
    lesions[3, 5, 0] = lesions[3, 6, 1] = 1  # another: two voxels touching along an edge
    return tissue, mask, lesions


def literature_maps(tissue, rng, noise=0.03):
    values = {1: (4000.0, 1800.0, 1.0), 2: (1330.0, 90.0, 0.8), 3: (830.0, 70.0, 0.69)}
    values[4] = (1100.0, 65.0, 0.75)
    out = [np.zeros(tissue.shape) for _ in range(3)]
    for label, triple in values.items():
        inside = tissue == label
        for k in range(3):
            out[k][inside] = triple[k] * (1 + noise * rng.standard_normal(inside.sum()))
    return out


def test_segmentation_assigns_literature_tissues():
    rng = np.random.default_rng(0)
    n = 300
    truth = np.repeat([1, 2, 3], n)
    t1 = np.array([TISSUE_CENTROIDS[k][0] for k in truth]) * (1 + 0.05 * rng.standard_normal(3 * n))
    t2 = np.array([TISSUE_CENTROIDS[k][1] for k in truth]) * (1 + 0.05 * rng.standard_normal(3 * n))
    pd_ = np.array([TISSUE_CENTROIDS[k][2] for k in truth]) * (
        1 + 0.03 * rng.standard_normal(3 * n)
    )
    shape = (3 * n, 1, 1)
    mask = np.ones(shape, bool)
    mask[0] = False
    labels = segment_tissues(t1.reshape(shape), t2.reshape(shape), pd_.reshape(shape), mask)
    assert labels.dtype == np.uint8
    assert labels[0, 0, 0] == 0  # outside the mask
    agreement = (labels.ravel()[1:] == truth[1:]).mean()
    assert agreement > 0.97
    assert set(np.unique(labels)) <= {0, 1, 2, 3}


def test_segmentation_rejects_invalid_voxels_and_shapes():
    t1 = np.array([[[0.0, 830.0, np.nan]]])
    t2 = np.array([[[70.0, 70.0, 70.0]]])
    pd_ = np.array([[[0.7, 0.69, 0.7]]])
    labels = segment_tissues(t1, t2, pd_, np.ones(t1.shape))
    assert labels.tolist() == [[[0, 3, 0]]]
    with pytest.raises(ValueError, match="same shape"):
        segment_tissues(t1, t2[..., :2], pd_, np.ones(t1.shape))


def test_roi_masks_tissue_regions_lesions():
    tissue, _, _ = phantom()
    lesions = np.zeros(SHAPE, bool)
    lesions[4, 4, 1] = lesions[5, 5, 2] = True  # diagonal neighbours: one lesion (26-conn.)
    lesions[6, 3, 0] = True  # a second lesion
    regions = np.zeros(SHAPE, dtype=np.int16)
    regions[:, :5, :] = 1  # left half: GM, WM, deep GM and CSF
    regions[0, :, :] = 2  # background / CSF only: no brain tissue -> skipped
    masks = roi_masks(tissue, regions, {1: "left", 2: "edge"}, lesions)
    assert list(masks) == [
        ("tissue", "CSF"),
        ("tissue", "GM"),
        ("tissue", "WM"),
        ("tissue", "deepGM"),
        ("region", "left"),
        ("lesion", "lesion-1"),
        ("lesion", "lesion-2"),
    ]
    wm = masks[("tissue", "WM")]
    assert not (wm & lesions).any()
    assert wm.sum() == (tissue == 3).sum() - lesions[tissue == 3].sum()
    left = masks[("region", "left")]
    assert not (left & (tissue == 1)).any()
    assert left.sum() == (np.isin(tissue, (2, 3, 4)) & ~lesions)[:, :5, :].sum()
    sizes = sorted(int(masks[("lesion", f"lesion-{k}")].sum()) for k in (1, 2))
    assert sizes == [1, 2]
    # Without deep GM, no deepGM ROI; unnamed regions get a generic name.
    masks = roi_masks(np.where(tissue == 4, 3, tissue), regions, None, None)
    assert ("tissue", "deepGM") not in masks
    assert ("region", "region-1") in masks
    with pytest.raises(ValueError, match="region label 2"):
        roi_masks(tissue, regions, {1: "left"}, None)


def test_roi_masks_optional_inplane_erosion():
    tissue = np.zeros(SHAPE, dtype=np.int16)
    tissue[2:8, 2:8, :] = 3
    masks = roi_masks(tissue, erode=True)
    wm = masks[("tissue", "WM")]
    assert wm.sum() == 4 * 4 * 3  # one voxel in-plane, every slice kept


def write_subject(tmp_path, *, truth=True, rng=None):
    rng = rng or np.random.default_rng(1)
    tissue, mask, lesions = phantom()
    t1, t2, pd_ = literature_maps(tissue, rng)
    paths = {}
    methods = {"routine": 0.0, "fast": 0.05, "dl": 0.02}
    if truth:
        methods["truth"] = 0.0
    volumes = {}
    for method, noise in methods.items():
        paths[method] = {}
        volumes[method] = {}
        for key, base in (("T1map", t1), ("T2map", t2), ("PDmap", pd_)):
            data = (base * (1 + noise * rng.standard_normal(SHAPE))).astype(np.float32)
            data[~mask] = 0 if method != "fast" else 123.0  # background junk in one method
            path = tmp_path / f"{method}_{key}.nii.gz"
            save_nifti(data, path, AFFINE)
            paths[method][key] = path
            volumes[method][key] = data
    regions = np.zeros(SHAPE, dtype=np.int16)
    regions[:, :5, :] = 1
    regions[:, 5:, :] = 2
    files = {
        "tissue": save_nifti(tissue, tmp_path / "dseg.nii.gz", AFFINE),
        "regions": save_nifti(regions, tmp_path / "regions.nii.gz", AFFINE),
        "lesions": save_nifti(lesions, tmp_path / "lesion.nii.gz", AFFINE),
        "mask": save_nifti(mask.astype(np.uint8), tmp_path / "mask.nii.gz", AFFINE),
    }
    names = tmp_path / "regions.tsv"
    pd.DataFrame({"index": [1, 2], "name": ["front", "back"]}).to_csv(names, sep="\t", index=False)
    files["region_names"] = names
    return paths, files, volumes, tissue, mask, lesions


def test_measure_subject_writes_long_tables(tmp_path):
    paths, files, volumes, tissue, mask, lesions = write_subject(tmp_path)
    outputs = {"rois": tmp_path / "rois.tsv", "quality": tmp_path / "quality.tsv"}
    measure_subject(subject="01", maps=paths, outputs=outputs, **files)
    rois = read_tsv(outputs["rois"])
    assert tuple(rois.columns) == ROI_COLUMNS
    assert set(rois["participant_id"]) == {"01"}
    assert set(rois["method"]) == {"routine", "fast", "dl", "truth"}
    assert set(rois["roi_type"]) == {"tissue", "region", "lesion"}
    assert set(rois["map"]) == {"T1", "T2", "PD"}
    lesion_rois = sorted(set(rois.loc[rois["roi_type"] == "lesion", "roi"]))
    assert lesion_rois == ["lesion-1", "lesion-2"]  # (5,5,1) and the diagonal pair
    assert set(rois.loc[rois["roi_type"] == "region", "roi"]) == {"front", "back"}
    # 4 tissues + 2 regions + 2 lesions, x 4 methods x 3 maps
    assert len(rois) == 8 * 4 * 3
    wm = (tissue == 3) & (lesions == 0) & mask
    row = rois[(rois["method"] == "dl") & (rois["roi"] == "WM") & (rois["map"] == "T1")].iloc[0]
    values = volumes["dl"]["T1map"][wm].astype(float)
    assert row["n_voxels"] == wm.sum()
    assert row["mean"] == pytest.approx(values.mean(), rel=1e-5)
    assert row["median"] == pytest.approx(np.median(values), rel=1e-5)
    assert row["sd"] == pytest.approx(values.std(ddof=1), rel=1e-5)

    quality = read_tsv(outputs["quality"])
    assert tuple(quality.columns) == QUALITY_COLUMNS
    assert len(quality) == 2 * 2 * 3
    assert set(quality["reference"]) == {"routine", "truth"}
    got = quality[
        (quality["method"] == "fast")
        & (quality["reference"] == "routine")
        & (quality["map"] == "T2")
    ].iloc[0]
    image = np.where(mask, volumes["fast"]["T2map"], 0.0)  # background zeroed
    reference = np.where(mask, volumes["routine"]["T2map"], 0.0)
    assert got["psnr"] == pytest.approx(psnr(image, reference, mask=mask), rel=1e-5)
    assert got["ssim"] == pytest.approx(ssim(image, reference, mask=mask), rel=1e-5)
    assert got["nrmse"] == pytest.approx(nrmse(image, reference, mask=mask), rel=1e-5)


def test_measure_subject_segments_without_labels(tmp_path):
    paths, files, *_ = write_subject(tmp_path, truth=False)
    outputs = {"rois": tmp_path / "rois.tsv", "quality": tmp_path / "quality.tsv"}
    measure_subject(
        subject="02",
        maps=paths,
        tissue=None,
        regions=None,
        region_names=None,
        lesions=None,
        mask=files["mask"],
        outputs=outputs,
    )
    rois = read_tsv(outputs["rois"])
    assert set(rois["roi"]) == {"CSF", "GM", "WM"}
    assert set(rois["method"]) == {"routine", "fast", "dl"}
    assert set(read_tsv(outputs["quality"])["reference"]) == {"routine"}


def test_measure_subject_rejects_maps_off_the_routine_grid(tmp_path):
    paths, files, *_ = write_subject(tmp_path, truth=False)
    outputs = {"rois": tmp_path / "rois.tsv", "quality": tmp_path / "quality.tsv"}
    wrong = tmp_path / "fast_lowres_T1map.nii.gz"
    save_nifti(np.ones((10, 5, 3), np.float32), wrong, np.diag([2.0, 4.0, 4.0, 1.0]))
    paths["fast"]["T1map"] = wrong
    with pytest.raises(InputDataError, match="fast_lowres_T1map") as error:
        measure_subject(subject="03", maps=paths, outputs=outputs, **files)
    assert "sub-03" in str(error.value) and "shape" in str(error.value)
    assert not outputs["rois"].exists() and not outputs["quality"].exists()

    shifted = tmp_path / "shifted.nii.gz"
    affine = AFFINE.copy()
    affine[0, 3] = 1.0
    save_nifti(np.ones(SHAPE, np.float32), shifted, affine)
    paths["fast"]["T1map"] = shifted
    with pytest.raises(InputDataError, match=r"shifted\.nii\.gz: affine"):
        measure_subject(subject="03", maps=paths, outputs=outputs, **files)


def test_measure_subject_rejects_nonfinite_inside_the_brain(tmp_path):
    paths, files, volumes, _, mask, _ = write_subject(tmp_path, truth=False)
    data = volumes["dl"]["PDmap"].copy()
    data[~mask] = np.nan  # allowed: outside the brain
    save_nifti(data, paths["dl"]["PDmap"], AFFINE)
    outputs = {"rois": tmp_path / "rois.tsv", "quality": tmp_path / "quality.tsv"}
    measure_subject(subject="04", maps=paths, outputs=outputs, **files)
    data[5, 5, 1] = np.nan
    save_nifti(data, paths["dl"]["PDmap"], AFFINE)
    with pytest.raises(InputDataError, match="inside the brain mask are NaN"):
        measure_subject(subject="04", maps=paths, outputs=outputs, **files)


def test_measure_subject_checks_its_arguments(tmp_path):
    paths, files, *_ = write_subject(tmp_path, truth=False)
    outputs = {"rois": tmp_path / "rois.tsv", "quality": tmp_path / "quality.tsv"}
    with pytest.raises(ValueError, match="'dl' is missing"):
        measure_subject(
            subject="05", maps={k: paths[k] for k in ("routine", "fast")}, outputs=outputs, **files
        )
    bad_names = tmp_path / "bad.tsv"
    pd.DataFrame({"index": [1], "name": ["front"]}).to_csv(bad_names, sep="\t", index=False)
    files["region_names"] = bad_names
    with pytest.raises(InputDataError, match="region label 2"):
        measure_subject(subject="05", maps=paths, outputs=outputs, **files)
