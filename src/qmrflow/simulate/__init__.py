"""The shared simulation kit of the demo cohorts.

- :mod:`~qmrflow.simulate.cohort`: integer split sizes, stratified split allocation, a
  per-subject seed derived from the subject id;
- :mod:`~qmrflow.simulate.fields`: smooth random fields (Gaussian-filtered noise, scaled to a
  range) for B1, bias and fat-fraction maps or textures;
- :mod:`~qmrflow.simulate.kspace`: multi-coil Cartesian and non-Cartesian (golden-angle radial,
  FINUFFT) k-space sampling with complex Gaussian noise;
- :mod:`~qmrflow.simulate.template` and :mod:`~qmrflow.simulate.deform`: the MNI152 brain
  template and a per-subject smooth random deformation of it.

A study's simulator (``qmrflow.studies.<study>.simulate``) draws its cohort and renders its
subjects with these; what it adds is its anatomy, disease model and protocol.
"""

from qmrflow.simulate.cohort import (
    SPLITS,
    assign_splits,
    largest_remainder,
    split_counts,
    subject_rng,
    subject_seed,
)
from qmrflow.simulate.deform import RandomDeformation, linear_weights, rotation_matrix
from qmrflow.simulate.fields import periodic_field, scale_to_range, smooth_field, smooth_noise
from qmrflow.simulate.kspace import (
    GOLDEN_ANGLE,
    cartesian_mask,
    coil_sensitivities,
    complex_noise,
    fftc,
    ifftc,
    nufft_adjoint,
    nufft_forward,
    radial_density,
    radial_trajectory,
    sample_cartesian,
    sample_noncartesian,
    sigma_for_snr,
)
from qmrflow.simulate.template import (
    BrainTemplate,
    inside_ellipsoid,
    load_mni152,
    sample_volume,
    template_dir,
)

__all__ = [
    "GOLDEN_ANGLE",
    "SPLITS",
    "BrainTemplate",
    "RandomDeformation",
    "assign_splits",
    "cartesian_mask",
    "coil_sensitivities",
    "complex_noise",
    "fftc",
    "ifftc",
    "inside_ellipsoid",
    "largest_remainder",
    "linear_weights",
    "load_mni152",
    "nufft_adjoint",
    "nufft_forward",
    "periodic_field",
    "radial_density",
    "radial_trajectory",
    "rotation_matrix",
    "sample_cartesian",
    "sample_noncartesian",
    "sample_volume",
    "scale_to_range",
    "sigma_for_snr",
    "smooth_field",
    "smooth_noise",
    "split_counts",
    "subject_rng",
    "subject_seed",
    "template_dir",
]
