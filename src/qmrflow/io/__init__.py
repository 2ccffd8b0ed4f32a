"""One I/O contract for every study: arrays with their affine, validated at the boundary.

Readers raise :class:`qmrflow.errors.InputDataError` naming the subject and the file; writers
write to a temporary file beside the target and rename it, so a failed job leaves no partial
output behind.
"""

from qmrflow.io.atomic import atomic_output
from qmrflow.io.ismrmrd import RadialSeries, read_radial_series, write_radial_series
from qmrflow.io.nifti import Image, load_nifti, save_nifti
from qmrflow.io.tables import read_tsv, write_json, write_tsv

__all__ = [
    "Image",
    "RadialSeries",
    "atomic_output",
    "load_nifti",
    "read_radial_series",
    "read_tsv",
    "save_nifti",
    "write_json",
    "write_radial_series",
    "write_tsv",
]
