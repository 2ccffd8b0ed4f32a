"""Dystrophinopathy on thigh muscle MRI (Yang et al., BMC Neurology 2021).

A CNN separates dystrophinopathy (DMD, BMD) from other muscle diseases on axial mid-thigh
T1-weighted slices of both legs. Submodules are imported explicitly (``simulate`` for the
simulated demo cohort with ground truth, ``classify`` for training and inference); this package
imports none of them so that each workflow job pays only for what it uses.
"""
