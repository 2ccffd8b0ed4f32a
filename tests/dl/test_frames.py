"""Per-frame U-Net segmentation engine (qmrflow.dl.frames)."""

import numpy as np
import pytest
import torch

from qmrflow.dl.frames import (
    FrameSegmentationSettings,
    _augment,
    network_inputs,
    sample_frames,
)

SegmentationSettings = FrameSegmentationSettings


def test_augmentation_shifts_the_frame_and_its_labels_against_the_context():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 16, 16)
    x[:, 1:] = x[:1, 1:]  # one context for all
    y = torch.randint(0, 4, (64, 16, 16))
    moved_x, moved_y = _augment(x.clone(), y.clone(), generator, shift=3)
    # flips and transposes move every channel; the shift only the frame and its labels: after
    # undoing a sample's symmetry its context is the original, its frame a rolled copy
    symmetries = [(fx, fy, tr) for fx in (0, 1) for fy in (0, 1) for tr in (0, 1)]

    def apply(a, symmetry):
        a = a.flip(-2) if symmetry[0] else a
        a = a.flip(-1) if symmetry[1] else a
        return a.transpose(-2, -1) if symmetry[2] else a

    rolled = 0
    for i in range(64):
        symmetry = next(m for m in symmetries if torch.equal(apply(x[i, 1:], m), moved_x[i, 1:]))
        frame, labels = apply(x[i, 0], symmetry), apply(y[i], symmetry)
        scale = moved_x[i, 0].sum() / frame.sum()  # the frame's random intensity scale
        found = [
            (dx, dy)
            for dx in range(-3, 4)
            for dy in range(-3, 4)
            if torch.equal(torch.roll(labels, (dx, dy), (0, 1)), moved_y[i])
            and torch.allclose(torch.roll(frame, (dx, dy), (0, 1)) * scale, moved_x[i, 0])
        ]
        assert found
        rolled += found[0] != (0, 0)
    assert rolled > 32  # most samples shifted (a 1 in 49 chance each of none)


def test_settings_from_mapping():
    s = SegmentationSettings.from_mapping({"channels": [4, 8], "epochs": 3})
    assert s.channels == (4, 8) and s.as_dict()["channels"] == [4, 8]
    with pytest.raises(ValueError, match="unknown segmentation settings"):
        SegmentationSettings.from_mapping({"epoch": 3})
    with pytest.raises(ValueError, match="epochs"):
        SegmentationSettings(epochs=0)


def test_flips_can_leave_an_axis_with_sides_alone():
    """Left and right lungs: augmentation must not reverse axis 0 nor transpose."""
    generator = torch.Generator().manual_seed(1)
    x = torch.zeros(32, 1, 8, 8)
    y = torch.zeros(32, 8, 8, dtype=torch.int64)
    y[:, :4] = 1  # label 1 on the low half of axis 0
    x[:, 0, :4] = 1.0
    _, moved = _augment(x, y, generator, flips=(1,), transpose=False)
    assert torch.all(moved[:, :4] == 1) and torch.all(moved[:, 4:] == 0)
    _, flipped = _augment(x, y, torch.Generator().manual_seed(1), flips=(0, 1))
    assert any(torch.all(f[4:] == 1) for f in flipped)
    assert FrameSegmentationSettings(flips=[1, 1]).flips == (1,)
    with pytest.raises(ValueError, match="flips"):
        FrameSegmentationSettings(flips=(2,))


def test_sample_frames_take_stacks_and_per_stack_masks():
    rng = np.random.default_rng(0)
    stacks = rng.random((2, 6, 8, 8)).astype(np.float32)  # (S, T, X, Y)
    masks = rng.integers(0, 3, (2, 8, 8))  # one mask per stack
    x, y = sample_frames([stacks], [masks], frames_per_series=3, context=False)
    assert x.shape == (6, 1, 8, 8) and y.shape == (6, 8, 8) and y.dtype == np.int64
    np.testing.assert_array_equal(y[3], masks[1])
    np.testing.assert_array_equal(x[:3], network_inputs(stacks, frames=[0, 2, 5], context=False)[0])
    with pytest.raises(ValueError, match="non-negative integers"):
        sample_frames([stacks], [masks - 1])
