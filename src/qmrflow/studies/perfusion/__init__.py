"""Study `perfusion`: DL vs iterative motion correction of quantitative stress perfusion CMR.

Schueler et al., "Deep learning motion correction of quantitative stress perfusion
cardiovascular magnetic resonance", JCMR 2026. A dynamic short-axis first-pass series is aligned
three ways (none; iterative: robust PCA reference + SimpleITK affine and B-spline; DL: one-shot
MONAI registration networks), the myocardium is segmented by a U-Net, and myocardial blood flow
(MBF) is quantified per segment and per pixel by Fermi-constrained deconvolution.

Conventions of the study's modules
----------------------------------
Arrays
    A series on disk is a 4-D NIfTI ``(X, Y, slices, frames)``; in code one slice's series is
    ``(T, X, Y)`` float32. Displacement fields are ``(T, 2, X, Y)`` pull-back fields in voxels
    (:mod:`qmrflow.registration.warp`).
Slices
    Ordered base to apex along the slice axis (index 0 basal). The demo has three (basal, mid,
    apical).
Labels
    0 background, 1 LV blood pool, 2 myocardium, 3 RV blood pool, 4 liver, 5 other tissue
    (body). The segmentation network predicts 0-3 (the rest is background to it).
Segments
    AHA 16-segment model: basal 1-6, mid 7-12, apical 13-16. Numbered from the anterior RV
    insertion, counter-clockwise as seen from the apex: anterior, anteroseptal, inferoseptal,
    inferior, inferolateral, anterolateral (apical: anterior, septal, inferior, lateral). The
    septum faces the RV. Coronary territories: LAD 1, 2, 7, 8, 13, 14; RCA 3, 4, 9, 10, 15;
    LCx 5, 6, 11, 12, 16.
Kinetics and units
    :mod:`qmrflow.studies.perfusion.kinetics`: concentration in mM, times in s, MBF in
    ml/min/g. Sidecar times are in seconds (``FrameTimes``: one per frame, from the first;
    ``SaturationTime``).
"""
