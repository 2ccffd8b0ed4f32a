"""What the workflow knows about studies, in pure Python: layouts, the registry, SLURM fixes."""

from qmrflow.workflow.layout import StudyLayout, StudySpec, TrainedModel
from qmrflow.workflow.registry import available_studies, study_layouts, study_spec

__all__ = [
    "StudyLayout",
    "StudySpec",
    "TrainedModel",
    "available_studies",
    "study_layouts",
    "study_spec",
]
