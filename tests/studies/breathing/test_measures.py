"""Breathing measures on synthetic lung masks with known dome positions and thoracic width."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmrflow.studies.breathing.measures import (
    MEASURE_COLUMNS,
    diaphragm_position,
    excursion,
    largest_components,
    lung_area,
    lung_labels,
    paradoxical_motion,
    peak_sniff_velocity,
    smoothed_velocity,
    subject_measures,
    synchronicity,
    thoracic_width,
)

DX = DY = 4.0  # mm, the demo grid
SPACING = (DX, DY)
FPS = 20.0
NX, NY = 96, 80
MIDLINE = 190.0  # mm, left-right centre of the thorax
MEDIAL = 20.0  # mm, half-width of the mediastinum
WIDEST = 220.0  # mm, level of the widest thorax
LUNG_TOP = 290.0  # mm


def frame_times(seconds: float, fps: float = FPS) -> np.ndarray:
    return np.arange(round(seconds * fps)) / fps


def thorax_masks(
    dome_right: np.ndarray,
    dome_left: np.ndarray,
    half_width: np.ndarray,
    *,
    curvature: float = 0.007,
    wall_curvature: float = 0.01,
) -> np.ndarray:
    """``(T, X, Y)`` labels sampled at pixel centres ``(i DX, j DY)``.

    Each lung lies between the mediastinum and a barrel-shaped lateral wall ``|x - MIDLINE| <=
    half_width - wall_curvature min((y - WIDEST)², 30²)`` (widest at ``WIDEST``, width
    ``2 half_width``), below
    ``LUNG_TOP`` and above a parabolic dome ``y >= dome - curvature (x - x_lung)²`` whose apex
    (height ``dome``) lies at the lung's left-right centre. The right lung (1) is at low x,
    the left lung (2) at high x; the liver (3) fills the space under the right dome and the
    background tissue (4) surrounds everything (both must be ignored).
    """
    x = (np.arange(NX) * DX)[None, :, None]
    y = (np.arange(NY) * DY)[None, None, :]
    hw = np.asarray(half_width, float)[:, None, None]
    lateral = hw - wall_curvature * np.minimum((y - WIDEST) ** 2, 30.0**2)
    offset = np.abs(x - MIDLINE)
    in_chest = (offset >= MEDIAL) & (offset <= lateral) & (y <= LUNG_TOP)
    centre = MIDLINE - (150.0 + MEDIAL) / 2
    right_border = np.asarray(dome_right, float)[:, None, None] - curvature * (x - centre) ** 2
    left_centre = 2 * MIDLINE - centre
    left_border = np.asarray(dome_left, float)[:, None, None] - curvature * (x - left_centre) ** 2
    labels = np.full(np.broadcast_shapes(in_chest.shape, right_border.shape), 4, dtype=np.uint8)
    right = in_chest & (x < MIDLINE) & (y >= right_border)
    left = in_chest & (x > MIDLINE) & (y >= left_border)
    liver = in_chest & (x < MIDLINE) & (y < right_border) & (y > 40.0)
    labels[right] = 1
    labels[left] = 2
    labels[liver] = 3
    return labels


def breathing(times: np.ndarray, amplitude: float = 15.0, period: float = 4.0) -> np.ndarray:
    """Dome position: 170 mm at end-expiration, descending by ``2 amplitude`` on inspiration."""
    return 170.0 - amplitude * (1 - np.cos(2 * np.pi * times / period))


# ----------------------------------------------------------------------------- dome position


@pytest.mark.parametrize(("method", "limit"), [("mean", 0.5), ("apex", 1.0)])
def test_dome_position_is_sub_pixel(method: str, limit: float) -> None:
    t = frame_times(12.0)
    dome_r, dome_l = breathing(t), breathing(t, amplitude=12.0) + 8.0
    width = np.full(t.size, 150.0)
    masks = thorax_masks(dome_r, dome_l, width)
    for side, truth in (("right", dome_r), ("left", dome_l)):
        measured = diaphragm_position(masks, SPACING, side=side, method=method)
        error = measured - truth  # the apex, in absolute terms
        rms = np.sqrt(np.mean(error**2))
        assert rms < limit, (side, method, rms)  # sub-pixel on a 4 mm grid
        assert np.max(np.abs(error)) < 2.0


@pytest.mark.parametrize("method", ["mean", "apex"])
def test_dome_is_unbiased_on_continuous_motion(method: str) -> None:
    t = frame_times(6.0)
    dome = 150.0 + 10.0 * t  # a slow ramp through many pixel phases
    masks = thorax_masks(dome, dome, np.full(t.size, 150.0))
    measured = diaphragm_position(masks, SPACING, side="right", method=method)
    assert abs(np.mean(measured - dome)) < 0.5
    assert np.sqrt(np.mean((measured - dome) ** 2)) < 1.0
    assert np.polyfit(t, measured, 1)[0] == pytest.approx(10.0, rel=0.02)


def flat_dome_frames(dome: np.ndarray, below: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A right lung (label 1, image 0.1) above a flat border at ``dome`` mm over tissue (image
    ``below``), imaged with partial volume; the masks label a pixel lung where it is more than
    half lung, as a segmentation would. Returns ``(masks, image)``, each ``(T, X, Y)``."""
    j = np.arange(NY)[None, None, :]
    lung_fraction = np.clip(((j + 0.5) * DY - dome[:, None, None]) / DY, 0.0, 1.0)
    lung_fraction = np.broadcast_to(lung_fraction, (dome.size, NX, NY)).copy()
    lung_fraction[:, :10] = lung_fraction[:, 40:] = 0.0  # the lung spans columns 10-39
    lung_fraction[:, :, 70:] = 0.0  # its apex
    image = below + (0.1 - below) * lung_fraction
    image[:, :10] = image[:, 40:] = 1.0
    return np.where(lung_fraction > 0.5, 1, 4).astype(np.uint8), image


def test_dome_is_sub_pixel_from_the_frames_where_the_mask_is_flat() -> None:
    """A flat border carries no sub-pixel information in a mask (error up to half a pixel);
    the frames' partial volume gives it back, also through noise."""
    t = frame_times(6.0)
    dome = 150.0 + 10.0 * t  # a slow ramp through many pixel phases
    masks, image = flat_dome_frames(dome)
    from_mask = diaphragm_position(masks, SPACING, side="right")
    assert np.max(np.abs(from_mask - dome)) > 0.4 * DY
    exact = diaphragm_position(masks, SPACING, side="right", image=image)
    assert np.max(np.abs(exact - dome)) < 0.01
    noisy = image + np.random.default_rng(0).normal(0.0, 0.03, image.shape)
    measured = diaphragm_position(masks, SPACING, side="right", image=noisy)
    assert np.sqrt(np.mean((measured - dome) ** 2)) < 0.1 * DY


def test_without_contrast_below_the_lung_the_masks_border_stays() -> None:
    """Dark below the dome (gastric air): no partial volume to read, the mask's border is kept."""
    t = frame_times(2.0)
    masks, image = flat_dome_frames(150.0 + 10.0 * t, below=0.1)
    np.testing.assert_allclose(
        diaphragm_position(masks, SPACING, side="right", image=image),
        diaphragm_position(masks, SPACING, side="right"),
    )
    with pytest.raises(ValueError, match="does not match"):
        diaphragm_position(masks, SPACING, side="right", image=image[:, :, :-1])


def test_dome_ignores_isolated_segmentation_errors_and_empty_frames() -> None:
    t = frame_times(4.0)
    dome = breathing(t)
    masks = thorax_masks(dome, dome, np.full(t.size, 150.0))
    corrupted = masks.copy()
    corrupted[10, 21, 5] = 1  # a stray right-lung pixel far below the dome, inside the band
    corrupted[20][corrupted[20] == 2] = 0  # the left lung missing in one frame
    for method in ("mean", "apex"):
        clean = diaphragm_position(masks, SPACING, side="right", method=method)
        measured = diaphragm_position(corrupted, SPACING, side="right", method=method)
        assert abs(measured[10] - clean[10]) < 0.5, method
    left = diaphragm_position(corrupted, SPACING, side="left")
    assert np.isnan(left[20]) and np.all(np.isfinite(np.delete(left, 20)))


def test_dome_position_bad_inputs() -> None:
    t = frame_times(1.0)
    masks = thorax_masks(breathing(t), breathing(t), np.full(t.size, 150.0))
    with pytest.raises(ValueError, match="empty in every frame"):
        diaphragm_position(np.where(masks == 1, 0, masks), SPACING, side="right")
    with pytest.raises(ValueError, match="side"):
        diaphragm_position(masks, SPACING, side="middle")
    with pytest.raises(ValueError, match=r"\(T, X, Y\)"):
        diaphragm_position(masks[0], SPACING, side="right")
    with pytest.raises(ValueError, match="spacing"):
        diaphragm_position(masks, (4.0, -4.0), side="right")
    with pytest.raises(ValueError, match="integer labels"):
        diaphragm_position(masks.astype(float), SPACING, side="right")


# ----------------------------------------------------------------------------- width and area


def test_thoracic_width_is_sub_pixel() -> None:
    t = frame_times(8.0)
    half = 150.0 + 6.0 * np.sin(2 * np.pi * t / 4.0)
    masks = thorax_masks(breathing(t), breathing(t), half)
    measured = thoracic_width(masks, SPACING)
    error = measured - 2 * half
    assert np.sqrt(np.mean(error**2)) < 1.0  # a quarter pixel
    assert abs(np.mean(error)) < 0.5
    assert abs(excursion(measured) - 24.0) < 2.0


def test_thoracic_width_needs_both_lungs() -> None:
    t = frame_times(1.0)
    masks = thorax_masks(breathing(t), breathing(t), np.full(t.size, 150.0))
    with pytest.raises(ValueError, match="both lungs"):
        thoracic_width(np.where(masks == 2, 0, masks), SPACING)
    partial = masks.copy()
    partial[3][partial[3] == 2] = 0
    width = thoracic_width(partial, SPACING)
    assert np.isnan(width[3]) and np.isfinite(np.delete(width, 3)).all()


def test_lung_area_counts_pixels() -> None:
    t = frame_times(1.0)
    masks = thorax_masks(breathing(t), breathing(t), np.full(t.size, 150.0))
    area = lung_area(masks, SPACING, side="left")
    assert np.array_equal(area, np.count_nonzero(masks == 2, axis=(1, 2)) * DX * DY)


# ----------------------------------------------------------------------------- curves


def test_excursion_of_a_sinusoid_from_masks() -> None:
    t = frame_times(12.0)
    masks = thorax_masks(breathing(t, amplitude=10.0), breathing(t), np.full(t.size, 150.0))
    position = diaphragm_position(masks, SPACING, side="right")
    assert abs(excursion(position) - 20.0) < 2.0


def test_excursion_resists_noise_and_single_frame_errors() -> None:
    t = frame_times(12.0)
    truth = breathing(t)  # excursion 30 mm
    rng = np.random.default_rng(1)
    noisy = truth + rng.normal(0.0, 0.7, t.size)
    noisy[[40, 121]] += [25.0, -30.0]  # two single-frame segmentation failures
    assert abs(excursion(noisy) - 30.0) < 2.0
    assert excursion(noisy - 1000.0) == pytest.approx(excursion(noisy))
    raw_range = float(noisy.max() - noisy.min())
    assert raw_range > 50.0  # what an unsmoothed range would report


def test_velocity_of_a_linear_ramp() -> None:
    t = frame_times(3.0)
    velocity = smoothed_velocity(100.0 - 50.0 * t, t)
    np.testing.assert_allclose(velocity, -50.0, atol=1e-9)


def test_velocity_with_uneven_frames_and_gaps() -> None:
    rng = np.random.default_rng(2)
    t = np.cumsum(rng.uniform(0.04, 0.06, 80))
    curve = 20.0 * t
    curve[10] = np.nan
    np.testing.assert_allclose(smoothed_velocity(curve, t), 20.0, rtol=1e-6)


def sniff_profile(t: np.ndarray, onset: float, depth: float, duration: float) -> np.ndarray:
    """Raised-cosine descent by ``depth`` over ``duration`` s, held, returning 1 s later."""
    down = np.clip((t - onset) / duration, 0, 1)
    up = np.clip((t - onset - duration - 0.5) / 1.0, 0, 1)
    return -depth * 0.5 * (1 - np.cos(np.pi * down)) + depth * 0.5 * (1 - np.cos(np.pi * up))


def test_peak_sniff_velocity_of_a_known_profile() -> None:
    t = frame_times(4.0)
    depth, duration = 40.0, 0.5  # peak descent velocity pi depth / (2 duration) = 125.7 mm/s
    position = 160.0 + sniff_profile(t, 1.0, depth, duration)
    peak = peak_sniff_velocity(position, t)
    assert peak == pytest.approx(np.pi * depth / (2 * duration), rel=0.05)
    masks = thorax_masks(position, position, np.full(t.size, 150.0))
    from_masks = peak_sniff_velocity(diaphragm_position(masks, SPACING, side="left"), t)
    assert from_masks == pytest.approx(np.pi * depth / (2 * duration), rel=0.1)


def test_synchronicity_recovers_lag_and_sign() -> None:
    t = frame_times(20.0)
    step = 1 / FPS
    rng = np.random.default_rng(3)
    for lag in (0.2, -0.15, 0.0):
        position = breathing(t, period=3.7) + rng.normal(0, 0.3, t.size)
        descent = 170.0 - breathing(t - lag, period=3.7)  # the chest follows after ``lag``
        width = 300.0 + 0.4 * descent + rng.normal(0, 0.3, t.size)
        sync = synchronicity(position, width, t)
        assert abs(sync.lag_s - lag) <= step, (lag, sync)
        assert sync.r > 0.8 and sync.r_at_lag >= sync.r
    paradox = synchronicity(breathing(t), 300.0 - 0.4 * (170.0 - breathing(t)), t)
    assert paradox.r < -0.99 and np.isnan(paradox.lag_s)  # no positive peak within 1 s


def test_synchronicity_bad_inputs() -> None:
    t = frame_times(2.0)
    with pytest.raises(ValueError, match="equal"):
        synchronicity(breathing(t), breathing(t)[:-1], t)
    still = synchronicity(breathing(t), np.full(t.size, 300.0), t)  # a still chest wall
    assert np.isnan(still.r) and np.isnan(still.lag_s) and np.isnan(still.r_at_lag)
    with pytest.raises(ValueError, match="increasing"):
        synchronicity(breathing(t), breathing(t) + 1, t[::-1])


def sniff_pair(t: np.ndarray, dome_shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Width expanding by 10 mm over the sniff while the dome moves by ``dome_shift`` mm."""
    width = 300.0 - 10.0 / 40.0 * sniff_profile(t, 1.0, 40.0, 0.4)
    position = 160.0 + dome_shift / 40.0 * -sniff_profile(t, 1.0, 40.0, 0.4)
    return position, width


def test_paradoxical_flag() -> None:
    t = frame_times(4.0)
    rising, width = sniff_pair(t, +8.0)
    result = paradoxical_motion(rising, width, t)
    assert result.paradoxical
    assert result.displacement_mm == pytest.approx(8.0, abs=1.0)
    assert result.start_s <= 1.05 and result.end_s >= 1.35
    normal, width = sniff_pair(t, -30.0)
    result = paradoxical_motion(normal, width, t)
    assert not result.paradoxical and result.displacement_mm < -25.0
    small, width = sniff_pair(t, +2.0)  # below the 4 mm threshold
    assert not paradoxical_motion(small, width, t).paradoxical
    assert paradoxical_motion(small, width, t, threshold_mm=1.0).paradoxical
    with pytest.raises(ValueError, match="threshold"):
        paradoxical_motion(small, width, t, threshold_mm=-1.0)


# ----------------------------------------------------------------------------- subject table


def test_subject_table() -> None:
    tb, ts = frame_times(8.0), frame_times(3.0)
    quiet = thorax_masks(breathing(tb), breathing(tb), 150.0 + 2.0 * (170 - breathing(tb)) / 30)
    sniff_r, width = sniff_pair(ts, +10.0)  # paradoxical right dome
    sniff_l, _ = sniff_pair(ts, -30.0)
    sniff = thorax_masks(sniff_r, sniff_l, width / 2)
    table = subject_measures(
        {"breathing": quiet, "sniff": sniff}, {"breathing": tb, "sniff": ts}, SPACING
    )
    assert isinstance(table, pd.DataFrame)
    assert tuple(table.columns) == MEASURE_COLUMNS
    assert set(table["side"]) == {"right", "left", "both"}
    assert not table.duplicated(["task", "side", "measure"]).any()
    value = table.set_index(["task", "side", "measure"])["value"]
    assert value["breathing", "right", "excursion"] == pytest.approx(30.0, abs=2.0)
    assert value["sniff", "right", "paradoxical"] == 1.0
    assert value["sniff", "left", "paradoxical"] == 0.0
    assert value["sniff", "left", "peak_velocity"] > 5.0  # cm/s
    assert ("breathing", "right", "peak_velocity") not in value.index
    assert value["breathing", "left", "synchronicity_r"] > 0.9
    assert value["sniff", "right", "synchronicity_r"] < 0
    assert value["breathing", "both", "thoracic_width_excursion"] == pytest.approx(4.0, abs=1.5)
    assert value["breathing", "right", "lung_area_change"] > 0
    units = table.set_index("measure")["unit"].to_dict()
    assert units["peak_velocity"] == "cm/s" and units["lung_area_mean"] == "mm2"


def test_subject_table_bad_inputs() -> None:
    t = frame_times(2.0)
    masks = thorax_masks(breathing(t), breathing(t), np.full(t.size, 150.0))
    with pytest.raises(ValueError, match="differ"):
        subject_measures({"breathing": masks}, {"sniff": t}, SPACING)
    with pytest.raises(ValueError, match=r"\(40,\)"):
        subject_measures({"breathing": masks}, {"breathing": t[:-1]}, SPACING)
    with pytest.raises(ValueError, match="empty in every frame"):
        subject_measures({"sniff": np.where(masks == 1, 0, masks)}, {"sniff": t}, SPACING)
    with pytest.raises(ValueError, match="increasing"):
        subject_measures({"sniff": masks}, {"sniff": np.zeros(t.size)}, SPACING)


# ----------------------------------------------------------------------------- stray fragments
def test_largest_components_keeps_each_lungs_largest_piece_per_frame() -> None:
    masks = np.zeros((3, 12, 10), dtype=np.uint8)
    masks[:, 1:5, 4:9] = 1  # right lung, every frame
    masks[:, 7:11, 4:9] = 2  # left lung
    masks[0, 1, 0] = 1  # a stray right-lung pixel in frame 0
    masks[1, 8:10, 0:2] = 2  # a stray left-lung blob in frame 1
    masks[2, 7:11, 4:9] = 0  # frame 2: the left lung split in two, the larger kept
    masks[2, 7:11, 6:9] = 2
    masks[2, 7:9, 4] = 2
    masks[:, 5, 0] = 3  # another label: untouched
    cleaned = largest_components(masks)
    assert cleaned.dtype == masks.dtype
    assert cleaned[0, 1, 0] == 0 and (cleaned[1, 8:10, 0:2] == 0).all()
    assert (cleaned[2, 7:9, 4] == 0).all() and (cleaned[2, 7:11, 6:9] == 2).all()
    assert (cleaned[:, 5, 0] == 3).all()
    # a diagonal neighbour is connected (8-connectivity); frames are never connected
    diagonal = masks.copy()
    diagonal[0, 5, 3] = 1
    assert largest_components(diagonal)[0, 5, 3] == 1
    assert (largest_components(masks[[1]])[0] == cleaned[1]).all()


def test_a_stray_fragment_below_the_dome_does_not_move_the_measures() -> None:
    tb = frame_times(4.0)
    quiet = thorax_masks(breathing(tb), breathing(tb), np.full(tb.size, 150.0))
    stray = quiet.copy()
    stray[tb.size // 2 :, 66:82, 3:5] = 2  # gastric air labelled left lung, below the dome
    clean = subject_measures({"breathing": quiet}, {"breathing": tb}, SPACING)
    noisy = subject_measures({"breathing": stray}, {"breathing": tb}, SPACING)
    pd.testing.assert_frame_equal(clean, noisy)
    assert excursion(diaphragm_position(stray, SPACING, side="left")) > 50  # unless cleaned


def test_lung_labels_keep_only_the_lungs():
    np.testing.assert_array_equal(lung_labels(np.arange(6)), [0, 1, 2, 0, 0, 0])
    with pytest.raises(ValueError, match="non-negative integers"):
        lung_labels(np.array([-1, 1]))
