"""One-shot DL registration: network shapes and identity start, composition, training, inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.networks.blocks import Warp

from qmrflow.dl.checkpoint import save_checkpoint
from qmrflow.dl.inference import load_program
from qmrflow.errors import ModelError
from qmrflow.registration.deep import (
    GridWarp,
    RegistrationLoss,
    RegistrationSettings,
    build_registration_network,
    inference_program,
    ncc_loss,
    prepare_series,
    register_series_dl,
    train_registration,
)
from qmrflow.registration.oneshot import load_registration
from qmrflow.registration.warp import compose_affine_field, identity_grid, warp_frames

SHAPE = (32, 32)
SETTINGS = RegistrationSettings(image_shape=SHAPE, epochs=10, batch_size=32, learning_rate=5e-3)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Small convolutions: one thread is faster than two on a busy machine, and reproducible.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _series(rng: np.random.Generator, frames: int = 8, max_shift: float = 3.0):
    """Shifted blobs (LV pool, myocardial ring, RV) whose contrast changes over the frames.

    Returns frames, the unshifted reference of the same contrast, the true pull-back
    displacement (T, 2, X, Y) and the object mask.
    """
    grid = identity_grid(SHAPE)
    c = np.asarray(SHAPE) / 2 + rng.uniform(-2, 2, 2)
    r = np.hypot(grid[0] - c[0], grid[1] - c[1])
    radius = rng.uniform(4.5, 6.0)
    blood = 1 / (1 + np.exp((r - radius) / 0.8))
    myo = np.exp(-((r - radius - 2.5) ** 2) / 3.0)
    rv = np.exp(-((grid[0] - c[0]) ** 2 / 12 + (grid[1] - c[1] + 2 * radius) ** 2 / 5))
    t = np.linspace(0, 1, frames)[:, None, None]
    peak = rng.uniform(0.3, 0.5)
    lv_curve = 0.2 + np.exp(-(((t - peak) / 0.15) ** 2))
    rv_curve = 0.2 + np.exp(-(((t - peak + 0.15) / 0.15) ** 2))
    reference = lv_curve * blood + (0.3 + 0.4 * t) * 0.8 * myo + rv_curve * rv + 0.1
    shifts = rng.uniform(-max_shift, max_shift, (frames, 2))
    field = np.broadcast_to(shifts[:, :, None, None], (frames, 2, *SHAPE))
    moved = warp_frames(reference, field) + rng.normal(0, 0.01, reference.shape)
    # frame(p) = reference(p + shift): the field aligning it back is -shift.
    return moved.astype(np.float32), reference.astype(np.float32), -field, reference.max(0) > 0.5


def _alignment_error(displacement: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    return float(np.linalg.norm(displacement - truth, axis=1)[:, mask].mean())


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    train = [_series(rng)[:2] for _ in range(32)]
    val = [_series(rng)[:2] for _ in range(8)]
    test = [_series(rng) for _ in range(6)]
    model, result = train_registration(train, val, settings=SETTINGS, seed=0, device="cpu")
    return model, result, val, test


# --------------------------------------------------------------------------- network


def test_default_network_is_small_and_starts_as_the_identity():
    model = build_registration_network().eval()
    n = sum(p.numel() for p in model.parameters())
    assert 50_000 < n < 300_000
    x = torch.rand(3, 2, 64, 64)
    with torch.no_grad():
        ddf, warped = model(x)
    assert ddf.shape == (3, 2, 64, 64) and warped.shape == (3, 1, 64, 64)
    assert float(ddf.abs().max()) == 0.0
    torch.testing.assert_close(warped, x[:, :1], atol=1e-5, rtol=0)


def test_bad_inputs_and_settings_are_refused():
    with pytest.raises(ValueError, match="divisible"):
        RegistrationSettings(image_shape=(60, 64))
    with pytest.raises(ValueError, match="unknown"):
        RegistrationSettings.from_mapping({"epoch": 3})
    assert RegistrationSettings.from_mapping({"image_shape": [32, 32]}).image_shape == SHAPE
    with pytest.raises(ValueError, match=r"\(N, 2, X, Y\)"):
        build_registration_network(SETTINGS)(torch.zeros(1, 1, *SHAPE))
    with pytest.raises(ValueError, match="built for"):
        train_registration([(np.zeros((2, 64, 64)), np.zeros((2, 64, 64)))], [], settings=SETTINGS)
    with pytest.raises(ValueError, match="similarity"):
        RegistrationSettings(similarity="mi")
    with pytest.raises(ValueError, match="training_fixed"):
        RegistrationSettings(training_fixed="median")
    with pytest.raises(ValueError, match="augment_shift"):
        RegistrationSettings(augment_shift=-1)
    with pytest.raises(ValueError, match="design"):
        RegistrationSettings.from_mapping({"design": 1})


def test_grid_warp_matches_monai_warp_and_warp_frames():
    rng = np.random.default_rng(1)
    image = rng.random((2, 1, *SHAPE)).astype(np.float32)
    ddf = (3 * rng.standard_normal((2, 2, 4, 4))).astype(np.float32)
    ddf = torch.nn.functional.interpolate(torch.from_numpy(ddf), SHAPE, mode="bilinear")
    ours = GridWarp(SHAPE)(torch.from_numpy(image), ddf)
    with pytest.warns(UserWarning, match="grid_sample"):
        monai_warp = Warp(mode="bilinear", padding_mode="border")
    torch.testing.assert_close(ours, monai_warp(torch.from_numpy(image), ddf))
    np.testing.assert_allclose(ours[:, 0].numpy(), warp_frames(image[:, 0], ddf.numpy()), atol=1e-5)


def _set_affine(model, matrix) -> None:
    """Make the affine head output ``matrix`` (2 x 3, about the centre, voxels) for any input."""
    head = model.affine.output_block
    raw = (torch.tensor(matrix, dtype=torch.float32) - head.identity) / head.unit
    with torch.no_grad():
        head.fc.bias.copy_(raw.reshape(-1))


def test_affine_head_outputs_voxels_about_the_centre():
    """A unit output is one voxel: of translation, or of displacement at the frame's edge."""
    model = build_registration_network(SETTINGS).eval()
    head = model.affine.output_block
    assert not head.fc.weight.any() and not head.fc.bias.any()
    raw = torch.zeros(1, 6)
    raw[0, 2] = 1.0  # translation along axis 0
    raw[0, 4] = 1.0  # d u_1 / d x_1: one voxel at the edge of axis 1
    theta = head.theta(raw)[0].numpy()
    field = compose_affine_field(theta, SHAPE)
    np.testing.assert_allclose(field[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(field[1, :, -1], 1.0, atol=1e-5)
    np.testing.assert_allclose(field[1, :, 0], -1.0, atol=1e-5)


def test_stages_compose_into_one_field():
    """Warping by the total field equals warping affinely then deformably."""
    model = build_registration_network(SETTINGS).eval()
    angle, shift = 0.1, (1.5, -2.0)
    matrix = [[np.cos(angle), -np.sin(angle), shift[0]], [np.sin(angle), np.cos(angle), shift[1]]]
    _set_affine(model, matrix)
    grid = identity_grid([n // 2 for n in SHAPE])
    bump = np.stack([np.sin(grid[1] / 3.0), np.cos(grid[0] / 4.0)]).astype(np.float32)
    model.deformable.forward = lambda x: torch.from_numpy(bump)[None].expand(len(x), -1, -1, -1)
    frames, reference, _, _ = _series(np.random.default_rng(2), frames=2)
    x = torch.from_numpy(np.stack([frames, reference], axis=1))
    with torch.no_grad():
        ddf, warped, affine_ddf, moved = model.stages(x)
    # The affine stage is the map about the frame centre.
    np.testing.assert_allclose(
        affine_ddf[0].numpy(), compose_affine_field(matrix, SHAPE), atol=1e-4
    )
    local = 2 * torch.nn.functional.interpolate(
        torch.from_numpy(bump)[None], scale_factor=2.0, mode="bilinear"
    )
    inner = (slice(None), slice(8, -8), slice(8, -8))  # away from border clamping
    # Fields: total(p) = local(p) + affine(p + local(p)).
    expected = local[0].numpy() + warp_frames(affine_ddf[0].numpy(), local[0].numpy())
    np.testing.assert_allclose(ddf[0].numpy()[inner], expected[inner], atol=1e-4)
    # Images: one interpolation by the total field ~ two, affine then deformable.
    sequential = model.warp(moved, local.expand(2, -1, -1, -1))
    difference = np.abs(warped[:, 0].numpy() - sequential[:, 0].numpy())[inner]
    assert difference.mean() < 0.01 and difference.max() < 0.1


def test_ncc_ignores_brightness_and_does_not_reward_flattening():
    """MSE prefers a flat image to a noisy dark frame at the right place; 1 - NCC does not."""
    rng = np.random.default_rng(6)
    _, reference, _, _ = _series(rng, frames=1, max_shift=0.0)
    reference = torch.from_numpy(0.05 * reference)[:, None]  # a dark, pre-contrast frame
    noise = 1.5 * float(reference.std()) * rng.standard_normal(reference.shape)
    noisy = reference + torch.from_numpy(noise).float()
    flat = torch.full_like(reference, float(reference.mean()))
    mse = torch.nn.functional.mse_loss
    assert mse(flat, reference) < mse(noisy, reference)  # the degenerate optimum
    assert ncc_loss(noisy, reference) < 0.6 and ncc_loss(flat, reference) > 0.99
    brighter = ncc_loss(7.0 * noisy + 3.0, reference)
    torch.testing.assert_close(brighter, ncc_loss(noisy, reference), atol=1e-3, rtol=0)
    assert float(ncc_loss(reference, reference)) < 1e-6


def test_network_input_is_standardised_per_frame():
    """Scaling a frame's intensities (and the fixed image's) leaves the field unchanged."""
    model = build_registration_network(SETTINGS).eval()
    _set_affine(model, [[1, 0, 0], [0, 1, 0]])
    with torch.no_grad():  # a network whose output depends on its input
        model.affine.output_block.fc.weight.normal_(0, 0.01)
    frames, reference, _, _ = _series(np.random.default_rng(7), frames=2)
    x = torch.from_numpy(np.stack([frames, reference], axis=1))
    with torch.no_grad():
        ddf, warped = model(x)
        ddf_scaled, warped_scaled = model(x * 0.01 + 0.5)
    assert float(ddf.abs().max()) > 0.1
    torch.testing.assert_close(ddf_scaled, ddf, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(warped_scaled, warped * 0.01 + 0.5, atol=1e-4, rtol=1e-3)


def test_bending_energy_ignores_affine_maps():
    loss = RegistrationLoss(SETTINGS)
    affine = torch.from_numpy(compose_affine_field([[1.1, 0.2, 3], [-0.1, 0.9, 1]], SHAPE))
    grid = identity_grid(SHAPE)
    curved = torch.from_numpy(np.stack([np.sin(grid[0] / 3.0), np.zeros(SHAPE)]))
    image = torch.zeros(1, 1, *SHAPE)
    _, flat = loss((affine[None].float(), image, affine[None].float(), image), image)
    _, bent = loss((curved[None].float(), image, curved[None].float(), image), image)
    assert flat["smoothness"] < 1e-8 < 1e-3 < bent["smoothness"]


def test_prepare_series_normalises_and_uses_the_temporal_median():
    frames = np.random.default_rng(3).random((5, *SHAPE)).astype(np.float32) * 10
    x, target, scale = prepare_series(frames, frames)
    assert x.shape == (5, 2, *SHAPE) and target.shape == (5, 1, *SHAPE)
    assert scale == pytest.approx(np.percentile(frames, 99))
    np.testing.assert_allclose(x[3, 1], np.median(frames, axis=0) / scale, rtol=1e-5)
    np.testing.assert_allclose(target[:, 0], x[:, 0])
    with pytest.raises(ValueError, match="reference shape"):
        prepare_series(frames, frames[:2])


# --------------------------------------------------------------------------- training


def test_training_lowers_the_loss_and_the_alignment_error(trained):
    model, result, val, test = trained
    history = result.history
    assert list(history["epoch"]) == list(range(1, SETTINGS.epochs + 1))
    # The loss of the identity map (frames as they are) on the validation pairs.
    loss_fn = RegistrationLoss(SETTINGS)
    identity = []
    for frames, reference in val:
        x, y, _ = prepare_series(frames, reference)
        moving = torch.from_numpy(x[:, :1])
        zero = torch.zeros(len(x), 2, *SHAPE)
        identity.append(loss_fn((zero, moving, zero, moving), torch.from_numpy(y))[0].item())
    assert result.best["val_loss"] < 0.5 * np.mean(identity)
    assert result.best["val_loss"] < history["val_loss"].iloc[0]
    before = after = 0.0
    for frames, _, truth, mask in test:
        _, displacement, _ = register_series_dl(model, frames, device="cpu")
        before += _alignment_error(np.zeros_like(truth), truth, mask)
        after += _alignment_error(displacement, truth, mask)
    assert after < 0.5 * before


def test_a_shifted_frame_is_shifted_back(trained):
    """Sign convention end to end: frame(p) = reference(p + s) is aligned by the field -s."""
    model = trained[0]
    frames, reference, _, mask = _series(np.random.default_rng(8), frames=8, max_shift=1.0)
    shift = np.array([2.0, -2.0])
    field = np.broadcast_to(shift[:, None, None], (1, 2, *SHAPE))
    frames[3] = warp_frames(reference[3:4], field)[0]
    warped, displacement, _ = register_series_dl(model, frames, device="cpu")
    estimate = displacement[3][:, mask].mean(axis=1)
    np.testing.assert_allclose(estimate, -shift, atol=0.6)
    error_before = np.abs(frames[3] - reference[3])[mask].mean()
    error_after = np.abs(warped[3] - reference[3])[mask].mean()
    assert error_after < 0.5 * error_before


def test_training_is_deterministic_with_the_seed():
    rng = np.random.default_rng(4)
    train = [_series(rng, frames=4)[:2] for _ in range(6)]
    val = [_series(rng, frames=4)[:2] for _ in range(2)]
    settings = RegistrationSettings(image_shape=SHAPE, epochs=2, batch_size=8)
    runs = [train_registration(train, val, settings=settings, seed=7)[1] for _ in range(2)]
    assert runs[0].history["val_loss"].tolist() == runs[1].history["val_loss"].tolist()
    for key, value in runs[0].state_dict.items():
        torch.testing.assert_close(value, runs[1].state_dict[key], atol=0, rtol=0)


# --------------------------------------------------------------------------- inference


def test_register_series_dl_output_is_its_field_applied_with_warp_frames(trained):
    model, _, _, test = trained
    frames = 100.0 * test[0][0]
    warped, displacement, seconds = register_series_dl(model, frames, device="cpu")
    assert warped.shape == frames.shape and warped.dtype == np.float32
    assert displacement.shape == (len(frames), 2, *SHAPE) and displacement.dtype == np.float32
    assert seconds > 0 and np.abs(displacement).max() > 0.5
    np.testing.assert_allclose(warp_frames(frames, displacement), warped, atol=1e-3 * 100)
    in_batches, field, _ = register_series_dl(model, frames, device="cpu", batch_size=3)
    np.testing.assert_allclose(field, displacement, atol=1e-5)
    np.testing.assert_allclose(in_batches, warped, atol=1e-4)


def test_exported_program_reproduces_the_network(trained):
    model, result, _, test = trained
    entries = inference_program(model, torch.zeros(1, 2, *SHAPE))
    assert entries, "the network should export to a torch-only program"
    program = load_program(dict(result.state_dict) | entries, "test")
    assert program is not None
    frames = test[1][0]
    warped, field, _ = register_series_dl(model, frames)
    warped_p, field_p, _ = register_series_dl(program, frames)
    np.testing.assert_allclose(field_p, field, atol=1e-5)
    np.testing.assert_allclose(warped_p, warped, atol=1e-5)


@pytest.mark.parametrize("similarity", ["lncc", "mse"])
def test_other_similarities_train(similarity):
    rng = np.random.default_rng(5)
    pairs = [_series(rng, frames=4)[:2] for _ in range(3)]
    settings = RegistrationSettings(
        image_shape=SHAPE, epochs=1, batch_size=4, similarity=similarity, training_fixed="frames"
    )
    _, result = train_registration(pairs[:2], pairs[2:], settings=settings, seed=0)
    if similarity == "lncc":
        assert -1.0 <= result.best["val_similarity"] < 0.0  # negative local correlation
    else:
        assert 0.0 <= result.best["val_similarity"] < 1.0


def test_checkpoints_of_the_first_design_are_refused(tmp_path):
    settings = RegistrationSettings(image_shape=SHAPE)
    model = build_registration_network(settings)
    recorded = settings.as_dict()
    del recorded["design"]  # written before the design was recorded
    path = tmp_path / "old.pt"
    save_checkpoint(model.state_dict(), path, {"settings": recorded})
    with pytest.raises(ModelError, match="design 1"):
        load_registration(path, torch.device("cpu"))
    recorded["design"] = 2
    save_checkpoint(model.state_dict(), path, {"settings": recorded})
    _, loaded, _ = load_registration(path, torch.device("cpu"), program=False)
    assert loaded == settings
