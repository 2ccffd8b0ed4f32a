"""Label table of the simulated thigh: the 11 muscles, the other tissues and the left-leg offset.

:data:`LABELS` holds the right-leg labels. The left leg's labels are the same ids plus
:data:`LEFT_OFFSET` (20), so that both legs can be told apart in one map (the full table is in
the package docstring of :mod:`qmrflow.studies.dystrophy.simulate`).
"""

from __future__ import annotations

MUSCLES: tuple[str, ...] = (
    "rectus_femoris",
    "vastus_lateralis",
    "vastus_medialis",
    "vastus_intermedius",
    "sartorius",
    "gracilis",
    "adductor_longus",
    "adductor_magnus",
    "biceps_femoris_long",
    "semitendinosus",
    "semimembranosus",
)
"""The 11 thigh muscles, in label order (right-leg labels 1 to 11)."""

LEFT_OFFSET: int = 20
"""Added to every non-background right-leg label to give the left-leg label."""

LABELS: dict[str, int] = {
    "background": 0,
    "rectus_femoris": 1,
    "vastus_lateralis": 2,
    "vastus_medialis": 3,
    "vastus_intermedius": 4,
    "sartorius": 5,
    "gracilis": 6,
    "adductor_longus": 7,
    "adductor_magnus": 8,
    "biceps_femoris_long": 9,
    "semitendinosus": 10,
    "semimembranosus": 11,
    "subcutaneous_fat": 12,
    "intermuscular_fat": 13,
    "fascia": 14,
    "femur_cortex": 15,
    "marrow": 16,
    "skin": 17,
    "neurovascular": 18,
}
"""Right-leg label ids; the left leg uses ``id + LEFT_OFFSET`` (background stays 0)."""

SIDES: tuple[str, str] = ("right", "left")
"""Leg names in the order used by the fat-fraction table."""

_LAB_SUBCUT = LABELS["subcutaneous_fat"]
_LAB_IMFAT = LABELS["intermuscular_fat"]
_LAB_FASCIA = LABELS["fascia"]
_LAB_CORTEX = LABELS["femur_cortex"]
_LAB_MARROW = LABELS["marrow"]
_LAB_SKIN = LABELS["skin"]
_LAB_NV = LABELS["neurovascular"]
