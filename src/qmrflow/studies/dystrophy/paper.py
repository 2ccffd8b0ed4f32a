"""The published numbers of Yang et al., BMC Neurology 2021;21:13, shown beside ours.

Table 1 (test images): accuracy, specificity, sensitivity and AUC per architecture; the text
gives the ResNet50 model's ROC AUC, the radiologists' accuracies and Fleiss' kappa, and the
sensitivity for DMD and BMD separately.
"""

from __future__ import annotations

PAPER = "Yang et al., BMC Neurology 2021;21:13"

#: Table 1: architecture -> (accuracy, specificity, sensitivity, AUC) on the test images.
TABLE_1: dict[str, tuple[float, float, float, float]] = {
    "VGG-19": (0.87, 0.98, 0.66, 0.91),
    "ResNet50": (0.91, 0.92, 0.89, 0.98),
    "DenseNet201": (0.90, 0.98, 0.74, 0.96),
    "DenseNet121": (0.88, 0.94, 0.78, 0.94),
    "Inception-V3": (0.90, 0.94, 0.83, 0.96),
}

#: qmrflow architecture name -> the paper's name in Table 1, where it is the same network.
SAME_ARCHITECTURE = {
    "resnet50": "ResNet50",
    "densenet201": "DenseNet201",
    "densenet121": "DenseNet121",
}

#: Headline numbers of the paper's chosen model (ResNet50) and its radiologists.
HEADLINE: dict[str, float] = {
    "image accuracy": 0.91,
    "image sensitivity": 0.89,
    "image specificity": 0.92,
    "image AUC": 0.98,
    "DMD sensitivity": 0.94,
    "BMD sensitivity": 0.82,
    "rater 1 accuracy": 0.80,
    "rater 2 accuracy": 0.84,
    "rater 3 accuracy": 0.84,
    "raters Fleiss kappa": 0.628,
}
