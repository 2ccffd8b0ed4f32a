"""Simulated stress-perfusion demo cohort with ground truth (series, AIF series, PD, motion).

The demo stands in for the paper's 201 patients. Everything is generated from seeds:
:func:`demo_participants` draws the cohort table and :func:`simulate_subject` renders one
subject and writes it (:func:`simulate_arrays` keeps it in memory). A subject's data depend only
on its row and the cohort seed: its streams are children of
:func:`qmrflow.simulate.cohort.subject_seed` ``(seed, participant_id)``.

Cohort
------
``participant_id`` (bare ``p001``...; the platform may prefix it), ``split`` (train/val/test,
14 : 2 : 8 by default, stratified by ischaemic or not), ``age``, ``sex``, ``ischaemia``
(``none`` for about half, else ``LAD``/``RCA``/``LCx``), ``deep_breaths`` (about 30 %) and
``stress_mbf`` (the subject's normal stress MBF, U(2.5, 3.5) ml/min/g).

Geometry and orientation
------------------------
Defaults (:class:`SimulationSettings`): stress series 64 x 64 at 2 mm, 3 short-axis slices 8 mm
thick, 20 mm apart, basal/mid/apical (index 0 basal; levels 0.21, 0.5, 0.79 of a 70 mm LV);
AIF series 32 x 32 at 4 mm, one slice at the level of the basal slice; 40 frames.

Affines are diagonal: world ``x``, ``y`` along voxel axes 0 and 1 with the FOV centre at 0,
world ``z`` along the slice axis from base to apex (right-handed). The AIF affine puts its
slice at the basal slice's ``z`` with the same in-plane centre, so both series agree in world
coordinates (the world frame is the short-axis frame, not anatomical RAS).

*Seen from the apex* is looking down ``-z`` onto the ``(axis0, axis1)`` plane with ``+axis0``
to the right and ``+axis1`` up: **angles are measured about the LV centre from +axis0 toward
+axis1** (``atan2(d_axis1, d_axis0)``), which is counter-clockwise as seen from the apex.

- The RV lies on the ``-axis0`` side: its centroid is at ``septum_angle`` = 180 degrees plus a
  per-subject rotation of at most 10 degrees (``SimulatedSubject.heart.septum_angle``). The
  septum is the myocardium between LV and RV, spanning ``septum_angle +- 60`` degrees; the
  anterior RV insertion is at ``septum_angle - 60`` (about 120 degrees, toward ``+axis1``),
  the inferior at ``septum_angle + 60`` (about 240 degrees, toward ``-axis1``).
- So anterior is ``+axis1`` (90 degrees), inferior ``-axis1``, lateral ``+axis0``.
- AHA segments, with ``rel = angle - septum_angle`` (degrees, mod 360): basal 1-6 and mid
  7-12 (offset 0 and 6): anterior ``[-120, -60)``, anteroseptal ``[-60, 0)``, inferoseptal
  ``[0, 60)``, inferior ``[60, 120)``, inferolateral ``[120, 180)``, anterolateral
  ``[180, 240)``, i.e. counter-clockwise from the anterior insertion seen from the apex;
  apical 13-16: anterior ``[-135, -45)``, septal ``[-45, 45)``, inferior ``[45, 135)``, lateral
  ``[135, 225)``. A slice's ring is basal / mid / apical by its level (< 1/3, < 2/3, else).
  :func:`aha_segments` implements this for the quantification code.

Phantom
-------
Per slice (:class:`Heart`, rendered at voxel centres, no partial volume in the reference):
LV blood pool (label 1, a disc), myocardium (2, a ring; basal ~20 mm endocardial radius and
~9 mm wall, shrinking toward the apex as a truncated ellipsoid), RV blood pool (3, a crescent
on the epicardium, thickest at the septum mid-line, zero at the insertions), liver (4, the part
of the body beyond a line 12-18 mm outside the epicardium toward the inferior RV insertion:
the ``-axis0, -axis1`` corner), other tissue (5, the body ellipse), air (0).

Kinetics (:mod:`qmrflow.studies.perfusion.kinetics`, the model the quantification fits)
-----------------------------------------------------------------------------------------
Frame times: one per heartbeat from 0, RR ~ U(0.6, 0.75) s with 3 % jitter. Arterial input
(= LV blood pool): gamma variate, peak 5-7 mM, onset 4-6 s, recirculation 8-15 %. RV: onset
1.5-2.5 s earlier, 10-30 % higher, narrower. Myocardium: input convolved with a Fermi
response (:func:`~qmrflow.studies.perfusion.kinetics.tissue_operator`, 0.1 s grid) per pixel;
per segment MBF ``stress_mbf (1 + N(0, 0.05))`` or U(0.8, 1.2) in the ischaemic territory,
``tau0`` U(2, 4) s, ``k`` U(0.5, 1.5) /s, delay U(0.5, 2) s; per pixel the segment MBF times a
smooth variation (SD 6 %, clipped to +-20 %). Liver and other tissue: slow enhancement to
0.2-0.4 and 0.1-0.2 mM.

Signal
------
Saturation recovery ``S = scale * coil * PD (1 - exp(-TS (1/T1 + r1 C)))``: 1.5 T native T1
(blood 1.55 s, myocardium 1.05, liver 0.58, other 0.9), r1 4.5 /mM/s, relative PD (blood 1,
myocardium 0.85, liver 0.75, other 0.7), TS 0.10 s (stress) and 0.02 s (AIF series), scale
1000, a smooth receive-coil sensitivity (0.8-1.2, fixed in the scanner: it does not move with
the anatomy). PD images: ``scale * coil * PD`` (fully relaxed), in the reference
(end-expiration) position, so their true displacement is zero.

Motion (:mod:`.motion`)
-----------------------
A respiratory trace (period 3.5-5 s, random phase; 1-3 deep breaths of 2-3x in subjects with
``deep_breaths``) drives a translation (3-6 mm mostly along axis 1), a small affine (rotation
1.5-4 degrees, scale up to 4 %) about the LV centre and a smooth non-rigid deformation (~1 mm
RMS), the same in every slice and in the AIF series (in its own voxels). Frames are the
reference images warped by :func:`qmrflow.registration.warp.warp_frames` (labels nearest
neighbour) with the true pull-back fields: frame ``t`` at voxel ``p`` shows the reference at
``p + u_t(p)``.

Noise
-----
Complex Gaussian noise (:func:`qmrflow.simulate.kspace.complex_noise`) in image space, stored
as magnitude (Rician). ``snr`` (20) is the mean motion-free myocardial signal at its peak
frame over the SD per channel; ``aif_snr`` (30) the same for the LV blood of the AIF series.
PD images get the noise SD of their series.

Outputs (:data:`OUTPUT_KEYS`, :func:`simulate_subject`)
--------------------------------------------------------
``stress`` (X, Y, S, T), ``aif`` (x, y, 1, T) float32 with sidecars ``FrameTimes`` (s, one per
frame), ``SaturationTime`` (s), ``MagneticFieldStrength``, ``SliceThickness``; ``stress_pd``
(X, Y, S), ``aif_pd`` (x, y, 1); truth: ``labels``/``aif_labels`` (uint8 per frame, same shape
as the series), ``motion``/``aif_motion`` (5-D (X, Y, S, T, 2) float32 pull-back fields in the
grid's voxels, last axis (axis 0, axis 1)), ``segments`` (uint8 (X, Y, S)) and ``mbf``
(float32 (X, Y, S), ml/min/g, 0 outside the myocardium), both motion-free; ``mbf_segments``
TSV (``segment``, ``name``, ``territory``, ``ischaemic``, ``mbf``, ``mbf_pixel_mean``,
``tau0``, ``k``, ``delay``, ``n_pixels``) and ``aif_truth`` TSV (``frame``, ``time``,
``concentration``).
"""

from qmrflow.studies.perfusion.simulate.cohort import demo_participants
from qmrflow.studies.perfusion.simulate.motion import Breathing, Motion
from qmrflow.studies.perfusion.simulate.phantom import (
    Heart,
    aha_segments,
    ring_of_level,
)
from qmrflow.studies.perfusion.simulate.settings import (
    LABELS,
    PD_RELATIVE,
    T1_NATIVE,
    SimulationSettings,
)
from qmrflow.studies.perfusion.simulate.subject import (
    OUTPUT_KEYS,
    SimulatedSubject,
    simulate_arrays,
    simulate_subject,
)

__all__ = [
    "LABELS",
    "OUTPUT_KEYS",
    "PD_RELATIVE",
    "T1_NATIVE",
    "Breathing",
    "Heart",
    "Motion",
    "SimulatedSubject",
    "SimulationSettings",
    "aha_segments",
    "demo_participants",
    "ring_of_level",
    "simulate_arrays",
    "simulate_subject",
]
