"""Simulated thigh-MRI demo cohort with ground truth for the dystrophinopathy study.

The demo reproduces the set-up of Yang et al. (BMC Neurology 2021): axial mid-thigh
T1-weighted slices of both legs, dystrophinopathy (DMD, BMD) against other muscle diseases.
Everything here is synthetic and generated from seeds: :func:`demo_participants` draws the
cohort table, :func:`simulate_case` renders one subject's slices with their label maps and
per-muscle fat fractions, :func:`write_case` stores them as a BIDS-like tree, and
:func:`simulate_ratings` draws the calls of human readers for the test split.

Image geometry
--------------
Arrays are indexed ``(x, y)`` as in NIfTI: ``x`` (the long image axis, 256 by default) runs
across both legs from the patient's right to the patient's left, ``y`` (192) from anterior to
posterior. The right thigh therefore lies at low ``x``, the left thigh at high ``x``. The
in-plane affine maps to RAS+ millimetres::

    [[-dx,   0,   0, dx * (X - 1) / 2],
     [  0, -dy,   0, dy * (Y - 1) / 2],
     [  0,   0,  dz,               z ],
     [  0,   0,   0,               1 ]]

so the image centre sits at x = y = 0. ``SimulatedCase.affine`` holds it with ``z = 0``;
the slices lie at different heights along the femur, given by ``SimulatedCase.slice_z_mm``
(negative: distal to the hip), and ``SimulatedCase.slice_affine(k)`` returns slice ``k``'s
affine with its z in the translation. ``dz`` is the slice thickness.

Label table
-----------
:data:`LABELS` holds the right-leg labels. The left leg's labels are the same ids plus
:data:`LEFT_OFFSET` (20), so that both legs can be told apart in one map:

====================  =====  =====
tissue                right  left
====================  =====  =====
background                0      0
rectus_femoris            1     21
vastus_lateralis          2     22
vastus_medialis           3     23
vastus_intermedius        4     24
sartorius                 5     25
gracilis                  6     26
adductor_longus           7     27
adductor_magnus           8     28
biceps_femoris_long       9     29
semitendinosus           10     30
semimembranosus          11     31
subcutaneous_fat         12     32
intermuscular_fat        13     33
fascia                   14     34
femur_cortex             15     35
marrow                   16     36
skin                     17     37
neurovascular            18     38
====================  =====  =====

Anatomy and disease model
-------------------------
Each thigh is a rounded outline (ellipse with low-order Fourier perturbation, flattened
posteriorly where it rests on the table) with skin, a subcutaneous fat ring and a muscle
compartment. Inside the compartment the 11 muscles are the cells of a power diagram of
anatomically placed seeds in radius-normalised coordinates, warped by a smooth random field;
the seeds and sizes move with the slice position (adductor magnus and longus larger
proximally, vastus medialis and semimembranosus larger distally, sartorius spiralling from
anterior to medial). Cell borders are thin fascia; the femoral and sciatic neurovascular
bundles sit in small intermuscular fat pads; the femur has a dark cortex with the linea
aspera and a marrow cavity (red marrow in young children, yellow later).

Each muscle's fat fraction follows the subject's ``severity`` through a diagnosis-specific
involvement profile (a muscle with involvement ``a`` starts replacing at severity
``0.75 (1 - a)``): dystrophinopathy spares sartorius, gracilis and semitendinosus (the
"trefoil") and relatively the adductor longus (the "single fruit") while adductor magnus,
biceps femoris long head, the quadriceps and semimembranosus go early, roughly symmetrically;
spared muscles are slightly enlarged (relative hypertrophy); BMD is the same pattern at a
lower severity for the same duration. LGMD2I and the sarcoglycanopathies mimic it; LGMD2A
spares vastus lateralis and involves semitendinosus; GNE myopathy spares the quadriceps;
Bethlem myopathy fattens the rim of each muscle ("outside-in"); neurogenic disease involves
one or two nerve territories, one leg worse, with atrophy; FSHMD picks a few muscles
asymmetrically; myositis (patchy, oedema-like low signal), MADD and congenital myopathy are
mild and diffuse. The fat inside a muscle is streaky and mottled (a logistic map of
smooth random fields) rather than a uniform brightening, and the ground-truth fat fraction of
a muscle is the mean of the rendered per-pixel fat map over its voxels in all slices.

T1-weighted intensity is fat ~1.0, healthy muscle ~0.3, mixed by the pixel's fat fraction,
then blurred slightly (partial volume), multiplied by a smooth quadratic bias field and a
per-scanner gain (1.5 T / 3 T style), and given Rician noise (SNR 12 to 60 relative to fat).

Modules
-------
:mod:`.labels` (label table), :mod:`.diseases` (disease model), :mod:`.cohort` (participants
table), :mod:`.legs` (thigh geometry and fat levels), :mod:`.render` (one thigh on one slice),
:mod:`.case` (a subject's slices, the scanner, the files) and :mod:`.ratings` (readers). Shared
pieces come from :mod:`qmrflow.simulate` (split sizes, smooth random fields).
"""

from qmrflow.studies.dystrophy.simulate.case import SimulatedCase, simulate_case, write_case
from qmrflow.studies.dystrophy.simulate.cohort import demo_participants
from qmrflow.studies.dystrophy.simulate.diseases import DIAGNOSES
from qmrflow.studies.dystrophy.simulate.labels import LABELS, LEFT_OFFSET, MUSCLES, SIDES
from qmrflow.studies.dystrophy.simulate.ratings import simulate_ratings

__all__ = [
    "DIAGNOSES",
    "LABELS",
    "LEFT_OFFSET",
    "MUSCLES",
    "SIDES",
    "SimulatedCase",
    "demo_participants",
    "simulate_case",
    "simulate_ratings",
    "write_case",
]
