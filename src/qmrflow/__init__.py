"""qmrflow: reproducible deep-learning quantitative MRI studies.

The package holds all the science (I/O, deep learning, statistics, figures and the per-study
methods); the Snakemake workflow at the repository root only wires it together. Nothing in this
package imports snakemake.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qmrflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
