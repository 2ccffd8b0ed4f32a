"""Shared deep-learning plumbing: devices, seeding, MONAI network factory, checkpoints, training.

Submodules import torch; import them explicitly (``from qmrflow.dl.checkpoint import ...``) so
that CPU-only jobs never pay torch's import time.
"""
