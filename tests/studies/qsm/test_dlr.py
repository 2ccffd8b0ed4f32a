"""DLR of 3D-EPI multi-echo images: FFT conventions, data consistency, phase, training, checkpoints.

Synthetic data: a smooth complex 3-D object (an ellipsoid with blobs of other intensity) whose
phase grows with echo time from a smooth field; the EPI input is its central k-space block with
complex noise there (zero-filled), the target the clean full-resolution object.
"""

import json
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from qmrflow.errors import ConfigError, InputDataError, ModelError
from qmrflow.recon.fourier import fftc, ifftc
from qmrflow.studies.qsm.dlr import (
    DlrNet,
    DlrSettings,
    apply_dlr,
    data_consistency,
    dlr_loss,
    fft2c,
    flip_x,
    from_channels,
    ifft2c,
    load_dlr,
    nrmse,
    phase_reference,
    to_channels,
    train_and_save_dlr,
    train_dlr,
)
from qmrflow.studies.qsm.recon import sampled_mask

SHAPE = (40, 48, 12)
ENCODED = (24, 28)
ECHO_TIMES = (0.004, 0.010, 0.016)
#: Small and quick: trains in about a second on 2 CPU cores.
TINY = DlrSettings(features=(8, 16, 32), epochs=6, batch_size=4, learning_rate=3e-3, seed=3)


def _phantom(rng):
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    brain = sum((g / a) ** 2 for g, a in zip(grid, (0.8, 0.85, 1.2), strict=True)) < 1.0
    magnitude = brain.astype(float)
    field = 10.0 * grid[0] * grid[1]
    for _ in range(5):
        centre, size = rng.uniform(-0.5, 0.5, 3), rng.uniform(0.15, 0.3, 3)
        blob = sum(((g - c) / a) ** 2 for g, c, a in zip(grid, centre, size, strict=True)) < 1
        magnitude += 0.5 * blob * brain * rng.uniform(-1, 1)
        field += 15.0 * blob * rng.uniform(-1, 1)  # Hz
    echoes = [
        magnitude * np.exp(-t / 0.045) * np.exp(2j * np.pi * field * (t - ECHO_TIMES[0]))
        for t in ECHO_TIMES
    ]
    return np.stack(echoes).astype(np.complex64), brain


def _epi(target, sigma, rng):
    sampled = sampled_mask(SHAPE[:2], ENCODED)
    k = fftc(target, axes=(1, 2)) * sampled[None, :, :, None]
    noise = rng.standard_normal((2, *k.shape)) * sigma / math.sqrt(2)
    k += (noise[0] + 1j * noise[1]) * sampled[None, :, :, None]
    return ifftc(k, axes=(1, 2)).astype(np.complex64), sampled


def _cohort(n_subjects, seed):
    """(inputs, sampled, targets, masks): a 2- and a 1-average EPI per subject."""
    rng = np.random.default_rng(seed)
    inputs, sampled, targets, masks = [], [], [], []
    for _ in range(n_subjects):
        target, brain = _phantom(rng)
        for sigma in (0.05, 0.05 * math.sqrt(2)):
            x, m = _epi(target, sigma, rng)
            inputs.append(x)
            sampled.append(m)
            targets.append(target)
            masks.append(brain)
    return inputs, sampled, targets, masks


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Small convolutions: one thread is faster than two on a busy machine (no thread waiting
    # on a descheduled other), and reproducible.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def data():
    return _cohort(3, 1), _cohort(1, 2)


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    train, val = data
    path = tmp_path_factory.mktemp("dlr") / "dlr.pt"
    metadata = train_and_save_dlr(
        *train,
        model_path=path,
        subjects=["a", "a", "b", "b", "c", "c"],
        settings=TINY,
        seed=5,
        val=val,
        val_subjects=["d", "d"],
        history_path=path.with_suffix(".tsv"),
        echo_times=ECHO_TIMES,
        device=torch.device("cpu"),
    )
    return path, metadata


def test_fft2c_matches_numpy_fftc():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 9, 8)) + 1j * rng.standard_normal((2, 3, 9, 8))).astype(
        np.complex64
    )
    k = fft2c(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(k, fftc(x, axes=(-2, -1)), atol=1e-5)
    np.testing.assert_allclose(ifft2c(torch.from_numpy(k)).numpy(), x, atol=1e-5)


def test_channels_round_trip():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4, 3, 5, 6)) + 1j * rng.standard_normal((4, 3, 5, 6))).astype(
        np.complex64
    )
    channels = to_channels(x)
    assert channels.shape == (4, 6, 5, 6) and channels.dtype == torch.float32
    np.testing.assert_array_equal(channels[:, 2].numpy(), x[:, 1].real)  # echo 2, Re
    np.testing.assert_array_equal(channels[:, 3].numpy(), x[:, 1].imag)  # echo 2, Im
    np.testing.assert_array_equal(from_channels(channels).numpy(), x)


def test_data_consistency_keeps_acquired_samples():
    rng = np.random.default_rng(2)

    def noise():
        return torch.from_numpy(rng.standard_normal((2, 3, 16, 12)) * (1 + 1j)).to(torch.complex64)

    x_net, x_cr = noise(), noise()
    mask = torch.from_numpy(sampled_mask((16, 12), (8, 6)))
    k_net, k_cr = fft2c(x_net), fft2c(x_cr)
    inside = mask.expand_as(k_net)

    hard = fft2c(data_consistency(x_net, x_cr, mask, math.inf))
    torch.testing.assert_close(hard[inside], k_cr[inside], atol=1e-5, rtol=0)
    torch.testing.assert_close(hard[~inside], k_net[~inside], atol=1e-5, rtol=0)

    near_hard = fft2c(data_consistency(x_net, x_cr, mask, 1e6))
    torch.testing.assert_close(near_hard[inside], k_cr[inside], atol=1e-4, rtol=0)

    soft = fft2c(data_consistency(x_net, x_cr, mask, torch.tensor(1.0)))
    torch.testing.assert_close(soft[inside], (k_net[inside] + k_cr[inside]) / 2, atol=1e-5, rtol=0)
    torch.testing.assert_close(soft[~inside], k_net[~inside], atol=1e-5, rtol=0)


@pytest.mark.parametrize("nx", [16, 15])
def test_flip_x_maps_the_acquired_block_of_a_flipped_image(nx):
    rng = np.random.default_rng(3)
    sampled = sampled_mask((nx, 10), (6, 4))
    k = (rng.standard_normal((nx, 10)) + 1j * rng.standard_normal((nx, 10))) * sampled
    flipped_support = np.abs(fftc(ifftc(k)[::-1])) > 1e-9
    np.testing.assert_array_equal(flipped_support, flip_x(torch.from_numpy(sampled)).numpy())


def test_phase_reference_takes_out_the_smooth_phase():
    # A slice whose phase is a steep ramp (several wraps) plus a small local bump: referenced,
    # the ramp is gone and the bump is left, the magnitude untouched.
    x, y = np.meshgrid(np.arange(32), np.arange(40), indexing="ij")
    bump = 0.3 * np.exp(-((x - 16) ** 2 + (y - 20) ** 2) / 2.0)
    magnitude = 1.0 + 0.2 * np.sin(x / 5.0)
    image = magnitude * np.exp(1j * (0.6 * x + 0.4 * y + bump))
    images = torch.from_numpy(np.stack([image, np.conj(image)])[None].astype(np.complex64))
    reference = phase_reference(images, 2.0)
    assert reference.shape == images.shape
    torch.testing.assert_close(reference.abs(), torch.ones(reference.shape), atol=1e-5, rtol=0)
    local = torch.angle(images * reference.conj())[0, 0].numpy()
    inner = (slice(6, -6), slice(6, -6))  # away from the reflected edges
    assert np.abs(local[inner]).max() < 0.3  # the ramp turns by 0.6 rad per voxel
    assert local[16, 20] > 0.15 and np.abs(local[6, 6]) < 0.05  # the bump stays, flat is 0
    np.testing.assert_allclose(
        (images * reference.conj()).abs().numpy(), np.abs(images.numpy()), rtol=1e-5
    )
    # No smoothing: all ones; an empty image: ones, not NaN.
    torch.testing.assert_close(phase_reference(images, 0.0), torch.ones_like(images))
    empty = phase_reference(torch.zeros(1, 2, 8, 8, dtype=torch.complex64), 2.0)
    torch.testing.assert_close(empty, torch.ones_like(empty))


def test_untrained_network_is_the_identity_and_keeps_the_phase(data):
    (inputs, sampled, _, _), _ = data
    model = DlrNet(3, TINY).eval()
    out = apply_dlr(model, inputs[0], sampled[0])
    assert out.dtype == np.complex64 and out.shape == inputs[0].shape
    np.testing.assert_allclose(out, inputs[0], atol=1e-5 * np.abs(inputs[0]).max())


def test_loss_is_zero_for_the_target_and_sees_phase():
    rng = np.random.default_rng(4)
    y = to_channels(np.exp(1j * rng.uniform(-3, 3, (2, 3, 8, 8))).astype(np.complex64))
    mask = torch.ones(2, 1, 8, 8)
    assert float(dlr_loss(y, y, mask)) == 0.0
    # The same magnitudes with echo 3's phase shifted by 0.3 rad cost more with the phase term.
    shifted = from_channels(y).clone()
    shifted[:, 2] *= np.exp(0.3j)
    x = to_channels(shifted)
    assert float(dlr_loss(x, y, mask, 1.0)) > float(dlr_loss(x, y, mask, 0.0)) > 0


def test_training_beats_zero_filling_and_keeps_the_phase(data, saved):
    path, metadata = saved
    _, (inputs, sampled, targets, masks) = data
    assert metadata["best_val_nrmse"] < 0.8 * metadata["best_val_nrmse_input"]
    model, _, _ = load_dlr(path)
    for x, m, y, brain in zip(inputs, sampled, targets, masks, strict=True):
        out = apply_dlr(model, x, m, batch=5)
        assert nrmse(out, y, brain) < 0.8 * nrmse(x, y, brain)
        # Where the magnitude is high the phase of every echo stays the input's (noise aside)
        # and gets closer to the truth's.
        high = np.abs(y) > 0.5 * np.abs(y).max()
        error_out = np.abs(np.angle(out * np.conj(y)))[high]
        error_in = np.abs(np.angle(x * np.conj(y)))[high]
        assert np.abs(np.angle(out * np.conj(x)))[high].mean() < 0.05
        assert error_out.mean() < error_in.mean()
        # The background is trained too (QSM masks the DLR magnitude): not left to grow (without
        # its loss weight this network multiplied it by 5 here).
        far = ~ndimage.binary_dilation(brain, iterations=3)
        assert np.abs(out)[:, far].mean() < 1.5 * np.abs(x)[:, far].mean()


def test_checkpoint_round_trip_and_metadata(data, saved):
    path, metadata = saved
    _, (inputs, sampled, _, _) = data
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["sha256"] == metadata["sha256"]
    assert record["training_subjects"] == ["a", "b", "c"]
    assert record["validation_subjects"] == ["d"]
    assert record["seed"] == 5 and record["settings"]["seed"] == 5
    assert record["n_echoes"] == 3 and record["echo_times"] == list(ECHO_TIMES)
    assert record["inference_program"] and "versions" in record
    assert path.with_suffix(".tsv").is_file()

    fast, settings, checkpoint = load_dlr(path, metadata["sha256"])
    slow, _, _ = load_dlr(path, program=False)
    assert settings.features == TINY.features and checkpoint.sha256 == metadata["sha256"]
    np.testing.assert_allclose(fast.dc_weight, record["dc_weight_learned"], rtol=1e-6)
    np.testing.assert_allclose(
        apply_dlr(fast, inputs[0], sampled[0]), apply_dlr(slow, inputs[0], sampled[0]), atol=1e-5
    )
    # The program takes other grids (dynamic spatial sizes), as the rebuilt U-Net does.
    parts = np.random.default_rng(5).standard_normal((2, 3, 44, 50, 3))
    other = (parts[0] + 1j * parts[1]).astype(np.complex64)
    mask = sampled_mask((44, 50), (20, 24))
    np.testing.assert_allclose(
        apply_dlr(fast, other, mask), apply_dlr(slow, other, mask), atol=1e-4
    )
    with pytest.raises(ModelError, match="trained/selected on"):
        load_dlr(path, subject="d")
    with pytest.raises(ModelError, match="echo times"):
        load_dlr(path, echo_times=(0.004, 0.012, 0.020))
    assert load_dlr(path, echo_times=(0.00401, 0.01, 0.016))[0].n_echoes == 3
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_dlr(path, "0" * 64)


def test_checkpoint_from_before_phase_referencing_loads_without_it(saved, tmp_path):
    path, _ = saved
    copy = tmp_path / "old.pt"
    copy.write_bytes(path.read_bytes())
    record = json.loads(path.with_suffix(".json").read_text())
    del record["settings"]["phase_reference_px"]
    copy.with_suffix(".json").write_text(json.dumps(record))
    _, settings, _ = load_dlr(copy)
    assert settings.phase_reference_px == 0.0


def test_corrupted_checkpoint_is_refused(saved, tmp_path):
    path, _ = saved
    copy = tmp_path / "dlr.pt"
    payload = bytearray(path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    copy.write_bytes(bytes(payload))
    (tmp_path / "dlr.json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_dlr(copy)


def test_training_is_deterministic_for_a_seed(data):
    train, _ = data
    subset = [volumes[:2] for volumes in train]
    settings = DlrSettings(features=(8, 16), epochs=2, batch_size=8, seed=11)
    runs = [train_dlr(*subset, settings, device=torch.device("cpu")) for _ in range(2)]
    (first, result_a), (second, result_b) = runs
    assert result_a.history["train_loss"].tolist() == result_b.history["train_loss"].tolist()
    for key, value in first.state_dict().items():
        torch.testing.assert_close(value, second.state_dict()[key], atol=0, rtol=0)


def test_settings_from_mapping_and_validation():
    settings = DlrSettings.from_mapping(
        {"features": [8, 16], "dc_weight": "inf", "learn_dc_weight": False}
    )
    assert settings.features == (8, 16) and math.isinf(settings.dc_weight)
    assert DlrSettings.from_mapping(json.loads(json.dumps(settings.as_dict()))) == settings
    with pytest.raises(ConfigError, match="unknown dlr settings"):
        DlrSettings.from_mapping({"chanels": [8]})
    with pytest.raises(ConfigError, match="cannot be learned"):
        DlrSettings(dc_weight=math.inf)
    with pytest.raises(ConfigError, match="dc_weight"):
        DlrSettings(dc_weight=0.0)
    with pytest.raises(ConfigError, match="features"):
        DlrSettings(features=(8,))
    with pytest.raises(ConfigError, match="epochs is not valid"):
        DlrSettings.from_mapping({"epochs": "many"})
    with pytest.raises(ConfigError, match="augment is not valid"):
        DlrSettings.from_mapping({"augment": "yes"})
    with pytest.raises(ConfigError, match="background_weight"):
        DlrSettings(background_weight=-0.1)
    with pytest.raises(ConfigError, match="phase_reference_px"):
        DlrSettings(phase_reference_px=-1.0)


def test_bad_input_is_refused_naming_the_subject(data):
    (inputs, sampled, _, _), _ = data
    model = DlrNet(3, TINY)
    with pytest.raises(InputDataError, match="2 echoes, the network has 3"):
        apply_dlr(model, inputs[0][:2], sampled[0], subject="007")
    broken = inputs[0].copy()
    broken[0, 3, 3, 3] = np.nan
    with pytest.raises(InputDataError, match=r"sub-007.*NaN"):
        apply_dlr(model, broken, sampled[0], subject="007")
    with pytest.raises(InputDataError, match="sampled mask"):
        apply_dlr(model, inputs[0], sampled[0][:-1])
