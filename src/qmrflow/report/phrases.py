"""Methods-text sentences for methods that live in qmrflow's shared code.

A method implemented once in the package (the per-frame U-Net engine :mod:`qmrflow.dl.frames`,
a confidence level) is described once here, and every study whose chain uses it puts the
sentence in its methods text (:mod:`qmrflow.report.methods`), with the settings recorded for
its model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qmrflow.report import references as refs
from qmrflow.report.methods import MethodsContext, listing, number

__all__ = ["frame_segmenter", "level"]


def level(confidence: float) -> str:
    """A confidence level as a percentage: ``0.95`` -> ``"95%"``."""
    return f"{number(confidence * 100)}%"


def _augmentation(settings: Mapping[str, Any]) -> str:
    if not settings.get("augment", True):
        return "no augmentation"
    axes = list(settings.get("flips", ()))
    parts = []
    if axes:
        parts.append(f"random reversal of image axis {listing(axes, 'or')}")
    if settings.get("transpose"):
        parts.append("transposes")
    if settings.get("context") and settings.get("shift"):
        parts.append(f"shifts of the frame against the summary of up to {settings['shift']} pixels")
    parts.append("a random intensity scale of the frame")
    return "augmentation by " + listing(parts)


def frame_segmenter(
    context: MethodsContext, name: str, structures: str, inputs: str | None = None
) -> str:
    """How model ``name``, a per-frame U-Net of :mod:`qmrflow.dl.frames`, was built and trained.

    Parameters
    ----------
    context
        The study's methods context (its model record gives the settings).
    name
        The model's name in the study.
    structures
        What it labels, e.g. ``"the left and right lung"``.
    inputs
        What it sees, when not what the recorded settings say.
    """
    record = context.model(name)
    s = record.settings
    if inputs is None:
        inputs = (
            "each frame beside its series' temporal maximum and standard deviation"
            if s.get("context")
            else "each frame alone"
        )
    channels = s.get("channels", ())
    units = s.get("num_res_units", 0)
    residual = f", {units} residual units per block" if units else ""
    dropout = f", dropout {number(s['dropout'])}" if s.get("dropout") else ""
    patience = s.get("patience")
    stop = f", stopping after {patience} epochs without a better one" if patience else ""
    return (
        f"{structures[:1].upper()}{structures[1:]} were labelled in every frame by a 2-D "
        f"MONAI U-Net {context.cite(refs.RONNEBERGER)} with {number(list(channels))} channels "
        f"per level{residual}{dropout}, which sees {inputs} (every image divided by its 99th "
        "percentile). "
        f"It was {context.model_origin(name)}: {s.get('frames_per_series')} frames sampled "
        "evenly over each series, MONAI's Dice plus cross-entropy loss, AdamW "
        f"{context.cite(refs.ADAMW)} at a learning rate of {number(s.get('learning_rate'))} "
        f"with weight decay {number(s.get('weight_decay'))} and cosine annealing "
        f"{context.cite(refs.COSINE_SCHEDULE)} over {s.get('epochs')} epochs, batches of "
        f"{s.get('batch_size')} frames and {_augmentation(s)}; the epoch with the highest "
        f"validation Dice was kept{stop}."
    )
