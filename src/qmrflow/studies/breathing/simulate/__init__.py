"""Simulated demo cohort of the breathing study, with known ground truth.

The demo stands in for the paper's 11 Pompe patients and 11 controls. Everything is generated
from seeds: :func:`demo_participants` draws the cohort table and :func:`simulate_arrays` renders
one subject in memory: the multi-coil radial k-space of two real-time tasks, a single-shot
inversion-recovery T1 series, and the truth. A subject's data depend only on its row, the
settings and the cohort seed: its streams are children of
:func:`qmrflow.simulate.cohort.subject_seed` ``(seed, participant_id)`` (anatomy, disease
response, breathing motion, sniff motion, coil sensitivities, image phase, breathing noise,
sniff noise, T1 noise), and row values only scale what the streams drew, so changing
``paradoxical`` changes only the sniff task and ``diaphragm_fat`` only the T1 series and maps.

Cohort (:func:`demo_participants`)
----------------------------------
``participant_id`` (bare ``b001``...; the platform may prefix it), ``group`` (``patient`` /
``control``, 6 + 6 by default, in random order), ``split`` (train/val/test 6 : 2 : 4, stratified
by group), ``age``, ``sex`` (controls matched to patients), ``severity`` (0 for controls,
U(0.25, 1) for patients), lung function linear in the severity plus noise: ``fvc_upright_pct``
(% predicted), ``fvc_supine_drop_pct`` (%), ``mip`` and ``snip`` (cmH2O); truth:
``paradoxical`` (``none``/``right``/``left``/``both``: the hemidiaphragm(s) rising during the
sniff; about 7/11 of the patients, the more severe ones) and ``diaphragm_fat`` (fat fraction,
controls 0.02-0.08, patients up to about 0.45).

Geometry and orientation
------------------------
Defaults (:class:`SimulationSettings`): one coronal slice, 96 x 96 at 4 mm (384 mm field of
view), 10 mm thick. **Axis 0 runs left-right with index 0 at the patient's right**
(radiological display: the right lung, label 1, is at low axis-0 indices), **axis 1 runs
craniocaudally with increasing index toward the head**. Arrays are ``(..., X, Y)`` in code and
``(X, Y, ...)`` in NIfTI order. World coordinates are the patient's RAS in mm with the centre of
the field of view at 0: voxel ``(i, j)`` lies at ``x = ((X - 1) / 2 - i) v`` (``+x``: the
patient's right), ``z = (j - (Y - 1) / 2) v`` (``+z``: head); the affine
(:func:`grid_affine`) maps axis 0 to ``-x``, axis 1 to ``+z``, axis 2 (the slice) to ``+y``
(anterior), determinant ``+v^2 thickness``. Every position in the truth (``dome_*_mm``,
:class:`Thorax`) is in these world mm; heights are world ``z``.

Labels
------
0 background, 1 right lung, 2 left lung, 3 liver, 4 heart, 5 other tissue (chest wall muscle
and fat, mediastinum, diaphragm, stomach and spleen). Each pixel takes the label covering most
of its ``supersample^2`` sub-pixels (ties to the lower label number, background last), so a
lung pixel is at least half lung.

Phantom (:mod:`.phantom`)
-------------------------
Body and inner thorax are capsules (a half ellipse above the widest point, straight sides
below); the chest wall (muscle with a 6-12 mm subcutaneous fat layer) moves laterally with the
thoracic width ``w`` (240-270 mm at end-expiration). Each hemidiaphragm is a raised-cosine dome
``D_s - H_s (1 - cos(pi min(1, |x - dome_x_s| / R_s))) / 2`` (``H`` 35-50 mm, ``R`` 85-110
mm); **the dome position ``D_s`` is the height (world ``z``) of the dome's apex, the highest
point of that lung's lower border, at the fixed column ``thorax.dome_x[s]``** (right 60-80 mm
right of the body centre, left 85-95 mm left of it, lateral to the heart). The right dome lies
10-25 mm below the widest point of the thorax, the left 10-20 mm below the right. Under the
domes a 10-14 mm (vertical) muscular diaphragm band, then the liver (patient's right) and
stomach/spleen; between the lungs the mediastinum; the heart is an ellipse resting on the
diaphragm medial to the left dome (so the medial columns of the left lung end on the heart, not
on the diaphragm). Real-time FLASH magnitudes (:data:`RT_SIGNAL`): lung 0.07, muscle, liver and
diaphragm 0.6, stomach/spleen 0.5, mediastinum 0.45, heart 0.9, fat 1.0; partial volume by
4 x 4 supersampling; times a smooth image phase (``phase``, static; 0.5 rad SD, width 1/8 of
the field of view, random offset).

Motion (:mod:`.motion`)
-----------------------
Tasks (:data:`TASKS`): ``breathing`` (8 s: one quiet breath of 3-4 s, then two deep breaths of
2-2.5 s each; curve phases ``quiet`` and ``deep``) and ``sniff`` (4 s: rest, one sniff, rest;
phase ``sniff``). Controls: dome excursion quiet 10-20 mm, deep 40-70 mm, sniff 25-40 mm with
a 0.25-0.4 s inspiration (peak velocity 10-25 cm/s); chest-wall (width) excursion quiet 4-8,
deep 15-25, sniff 6-12 mm. The severity ``s`` scales the diaphragm excursions by
``1 - 0.7 s`` (+-15 %), slows the sniff inspiration by up to 1.6x and shifts the chest wall
relative to the diaphragm: ``lag`` (s, chest wall behind the diaphragm) 0-0.1 s in controls,
``-0.6 s`` (the chest wall leads) at ``s = 1``. A paradoxical side rises 5-15 mm during the
sniff, in step with the chest wall. ``SimulatedSubject.response`` holds the drawn factors.

Acquisition (:mod:`.subject`)
-----------------------------
Frame ``t`` shows the anatomy at ``t * frame_s`` (50 ms; no motion within a frame). Radial
FLASH: ``spokes`` (11) full spokes per frame evenly over 180 degrees, rotated by
``pi / (spokes turns)`` from frame to frame so that ``turns`` (5) successive frames interleave
(frames ``t`` and ``t + 5`` share their spokes; :func:`frame_trajectories`). Spoke ``s`` of frame
``t`` is at angle ``pi s / spokes + (t mod turns) pi / (spokes turns)`` from ``+axis 0`` toward
``+axis 1``. **k-space coordinates are radians per pixel of the image grid, last axis (k along
axis 0, k along axis 1)**, the convention of :mod:`qmrflow.simulate.kspace` /
:mod:`qmrflow.recon.fourier` (``exp(-i k . n)`` with the pixel index ``n`` centred at
``N // 2``, orthonormal ``1 / sqrt(X Y)`` scaling). The readout is two-fold oversampled: 192
samples at ``2 pi (m - 96) / 192`` span ``[-pi, pi)`` with half the Cartesian spacing, DC at
sample 96. Density compensation in Cartesian cells is
:func:`qmrflow.recon.fourier.radial_dcf` ``(trajectory, matrix)``, equal to
``radial_density(trajectory, samples) * (X / samples)^2`` for one frame's evenly spread
spokes. ``n_coils`` (8) smooth birdcage-like sensitivities
(:func:`qmrflow.simulate.kspace.coil_sensitivities`, root-sum-of-squares 1, fixed in the
scanner). Noise: complex Gaussian per k-space sample, SD
``0.6 / snr`` per channel (``snr`` 25: the image SNR of muscle in a fully sampled Cartesian
coil-combined image; one frame's 11 spokes give a visibly noisy, streaky gridding image).

T1 mapping
----------
One static slice at end-expiration on the same grid, magnitude images at ``ir_times`` (10 TIs,
0.1-3 s) of a single-shot inversion recovery with a continuous FLASH readout (6 degrees, TR
2.67 ms) and ideal inversion. Per tissue ``1/T1* = 1/T1 - ln(cos a) / TR``, ``A = M0 T1* / T1``,
``B = A + M0``, signal ``|A - B exp(-TI / T1*)|``, hence ``T1 = T1* (B / A - 1)`` exactly
(Deichmann and Haase 1992); a pixel is the fraction-weighted sum of its tissues' complex signals
(times the phase), plus complex noise (SD ``0.7 / ir_snr``), magnitude. Field strength 3 T by
default (1.5 T selectable; :data:`T1_TISSUE`): muscle 1.41 s, fat 0.37 s, liver 0.81 s. The
diaphragm's relaxation rate mixes muscle and fat by its fat fraction ``f`` (fast exchange):
``1/T1 = (1 - f)/T1_muscle + f/T1_fat`` (:func:`diaphragm_t1`), so fat lowers its T1 (0.05:
1.24 s, 0.3: 0.76 s at 3 T), and its M0 ``0.7 (1 - f) + 0.9 f``. ``diaphragm_roi``: pixels at
least 75 % diaphragm, lateral to the mediastinum.

Truth
-----
Per task (:class:`SimulatedTask`): ``labels`` ``(T, X, Y)``, noise-free magnitude ``images``,
``curves`` (per frame: ``dome_right_mm``, ``dome_left_mm``, ``width_mm`` = distance between the
inner chest walls at the thorax's widest point = the lateral lung borders, lung areas from the
labels) and ``summary`` (per phase: excursion = max - min of the sampled dome heights,
peak ``|dD/dt|`` of the continuous motion, width excursion, paradoxical flags). Per subject:
``t1``/``t1_star`` maps, ``diaphragm_t1``, ``response.lag``, the anatomy (:class:`Thorax`).
"""

from qmrflow.studies.breathing.simulate.cohort import COLUMNS, PARADOXICAL, demo_participants
from qmrflow.studies.breathing.simulate.motion import Response, TaskMotion
from qmrflow.studies.breathing.simulate.phantom import Thorax, diaphragm_t1, grid_affine
from qmrflow.studies.breathing.simulate.settings import (
    CLASSES,
    LABELS,
    PD_TISSUE,
    RT_SIGNAL,
    T1_TISSUE,
    TASKS,
    SimulationSettings,
)
from qmrflow.studies.breathing.simulate.subject import (
    SimulatedSubject,
    SimulatedTask,
    frame_trajectories,
    simulate_arrays,
)

__all__ = [
    "CLASSES",
    "COLUMNS",
    "LABELS",
    "PARADOXICAL",
    "PD_TISSUE",
    "RT_SIGNAL",
    "T1_TISSUE",
    "TASKS",
    "Response",
    "SimulatedSubject",
    "SimulatedTask",
    "SimulationSettings",
    "TaskMotion",
    "Thorax",
    "demo_participants",
    "diaphragm_t1",
    "frame_trajectories",
    "grid_affine",
    "simulate_arrays",
]
