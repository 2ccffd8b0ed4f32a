"""BIDS file names in one place: a path builder, an entity parser and the sidecar of an image.

Every per-subject file the workflow reads or writes is named by :func:`bids_path` (entities in
the BIDS specification's order, then the suffix and extension), and every place that needs to
know whose file a path is asks :func:`parse_entities` / :func:`subject_of`. pybids would do the
parsing but indexes a whole dataset on construction, which costs seconds per job; a file name's
grammar is small enough to hold here.

The builder accepts Snakemake wildcard placeholders as values (``sub="{subject}"``), so the
rules build their patterns with the same function the package uses for concrete files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ENTITY_ORDER",
    "BidsName",
    "bids_name",
    "bids_path",
    "by_subject",
    "parse_entities",
    "sidecar_path",
    "subject_of",
]

PathLike = str | os.PathLike[str]

#: Entity keys in the order the BIDS specification (appendix "Entity table") puts them in a
#: file name. ``slice`` is qmrflow's slice index of 2D series, placed before ``desc``.
ENTITY_ORDER: tuple[str, ...] = (
    "sub",
    "ses",
    "sample",
    "task",
    "tracksys",
    "acq",
    "nuc",
    "voi",
    "ce",
    "trc",
    "stain",
    "rec",
    "dir",
    "run",
    "mod",
    "echo",
    "flip",
    "inv",
    "mt",
    "part",
    "proc",
    "hemi",
    "space",
    "split",
    "recording",
    "chunk",
    "seg",
    "res",
    "den",
    "label",
    "slice",
    "desc",
)
_RANK = {key: rank for rank, key in enumerate(ENTITY_ORDER)}
# A label is alphanumeric; a Snakemake placeholder such as {subject} is accepted by the builder.
_VALUE = re.compile(r"^(?:[A-Za-z0-9]+|\{[A-Za-z_][A-Za-z0-9_]*\})$")
_PAIR = re.compile(r"^([a-z]+)-([A-Za-z0-9]+)$")
_SUFFIX = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class BidsName:
    """The parts of a BIDS file name: entities (in name order), suffix and extension."""

    entities: dict[str, str] = field(default_factory=dict)
    suffix: str | None = None
    extension: str = ""

    @property
    def subject(self) -> str | None:
        """The ``sub`` label, or None when the name has none."""
        return self.entities.get("sub")

    def get(self, key: str) -> str | None:
        """The label of entity ``key``, or None."""
        return self.entities.get(key)


def bids_name(suffix: str, extension: str = ".nii.gz", **entities: object) -> str:
    """A BIDS file name: ``sub-<s>_<key>-<value>..._<suffix><extension>``.

    Entities are written in BIDS order whatever the order of the keyword arguments; None values
    are left out, so optional entities can be passed through unconditionally.

    Raises
    ------
    ValueError
        ``sub`` is missing, an entity key is unknown, or a value or the suffix is not
        alphanumeric (a Snakemake placeholder such as ``{subject}`` is accepted as a value).
    """
    given = {key: str(value) for key, value in entities.items() if value is not None}
    if "sub" not in given:
        raise ValueError(f"a BIDS file name needs a sub entity, got {sorted(given)}")
    unknown = sorted(set(given) - set(_RANK))
    if unknown:
        raise ValueError(f"unknown BIDS entities {unknown}; known: {', '.join(ENTITY_ORDER)}")
    for key, value in given.items():
        if not _VALUE.match(value):
            raise ValueError(f"BIDS entity {key}-{value!r}: a label must be alphanumeric")
    if not _SUFFIX.match(suffix):
        raise ValueError(f"BIDS suffix {suffix!r} must be alphanumeric")
    if extension and not extension.startswith("."):
        raise ValueError(f"extension {extension!r} must start with a dot")
    parts = [f"{key}-{given[key]}" for key in sorted(given, key=_RANK.__getitem__)]
    return "_".join([*parts, suffix]) + extension


def bids_path(
    root: PathLike,
    suffix: str,
    extension: str = ".nii.gz",
    *,
    datatype: str | None = "anat",
    **entities: object,
) -> str:
    """``<root>/sub-<s>[/ses-<t>][/<datatype>]/<bids_name>``, as a string.

    ``datatype=None`` puts the file in the subject (or session) folder itself, as for
    per-subject tables that belong to no datatype.
    """
    name = bids_name(suffix, extension, **entities)
    folder = Path(root, f"sub-{entities['sub']}")
    if entities.get("ses") is not None:
        folder = folder / f"ses-{entities['ses']}"
    if datatype:
        folder = folder / datatype
    return str(folder / name)


def parse_entities(path: PathLike) -> BidsName:
    """Split a file name into entities, suffix and extension.

    Parts of the name that are not ``key-value`` pairs (other than the final suffix) are not
    BIDS; they raise, since guessing would attach a file to the wrong subject or slice.

    Raises
    ------
    ValueError
        The name has a part that is neither an entity nor the final suffix, or an entity twice.
    """
    name = Path(path).name
    stem, dot, rest = name.partition(".")
    extension = dot + rest
    parts = stem.split("_") if stem else []
    suffix = None
    if parts and "-" not in parts[-1]:
        suffix = parts.pop()
    entities: dict[str, str] = {}
    for part in parts:
        match = _PAIR.match(part)
        if match is None:
            raise ValueError(f"{name}: {part!r} is not a BIDS key-value entity")
        key, value = match.groups()
        if key in entities:
            raise ValueError(f"{name}: entity {key} given twice")
        entities[key] = value
    return BidsName(entities=entities, suffix=suffix, extension=extension)


def subject_of(path: PathLike) -> str | None:
    """The ``sub`` label of a file name, or None when it has none or is not a BIDS name."""
    try:
        return parse_entities(path).subject
    except ValueError:
        return None


def sidecar_path(image: PathLike) -> Path:
    """The JSON sidecar of an image: ``sub-x_acq-y_MDME.nii.gz`` -> ``sub-x_acq-y_MDME.json``.

    Raises
    ------
    ValueError
        ``image`` is not a NIfTI file name (``.nii`` or ``.nii.gz``).
    """
    path = Path(image)
    name = path.name
    for extension in (".nii.gz", ".nii"):
        if name.endswith(extension):
            return path.with_name(name[: -len(extension)] + ".json")
    raise ValueError(f"{path} is not a NIfTI file name (.nii or .nii.gz)")


def by_subject(
    paths: Iterable[PathLike] | Mapping[str, PathLike], subjects: Sequence[str]
) -> dict[str, PathLike]:
    """Pair each subject with its file by the ``sub`` entity of the file name.

    Pairing by name rather than by list position means the order in which the workflow lists
    the files can never attach one subject's data to another subject's label.

    Raises
    ------
    ValueError
        A subject has no file or two, or a file belongs to no listed subject.
    """
    found: dict[str, PathLike] = {}
    for path in paths.values() if isinstance(paths, Mapping) else paths:
        label = subject_of(path)
        if label is None:
            raise ValueError(f"{Path(path).name} has no sub-<label> entity")
        if label in found:
            raise ValueError(f"two files for sub-{label}: {found[label]} and {path}")
        found[label] = path
    missing = sorted(set(subjects) - set(found))
    extra = sorted(set(found) - set(subjects))
    if missing or extra:
        raise ValueError(f"files do not match the subjects: missing {missing}, unexpected {extra}")
    return found
