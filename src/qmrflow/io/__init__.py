"""One I/O contract for every study: arrays with their affine, validated at the boundary.

Readers raise :class:`qmrflow.errors.InputDataError` naming the subject and the file; writers
write to a temporary file beside the target and rename it, so a failed job leaves no partial
output behind.
"""

from qmrflow.io.atomic import atomic_output
from qmrflow.io.ismrmrd import (
    CartesianEchoes,
    RadialSeries,
    read_cartesian_echoes,
    read_radial_series,
    write_cartesian_echoes,
    write_radial_series,
)
from qmrflow.io.megre import (
    MultiEchoImages,
    megre_paths,
    phase_to_radians,
    read_megre,
    write_megre,
)
from qmrflow.io.nifti import Image, load_nifti, save_nifti
from qmrflow.io.tables import read_tsv, write_json, write_tsv

__all__ = [
    "CartesianEchoes",
    "Image",
    "MultiEchoImages",
    "RadialSeries",
    "atomic_output",
    "load_nifti",
    "megre_paths",
    "phase_to_radians",
    "read_cartesian_echoes",
    "read_megre",
    "read_radial_series",
    "read_tsv",
    "save_nifti",
    "write_cartesian_echoes",
    "write_json",
    "write_megre",
    "write_radial_series",
    "write_tsv",
]
