"""BIDS file names in one place: a path builder, an entity parser and the sidecar of an image.

Every per-subject file the workflow reads or writes is named by :func:`bids_path` (entities in
the BIDS specification's order, then the suffix and extension), and every place that needs to
know whose file a path is asks :func:`parse_entities` / :func:`subject_of`. pybids would do the
parsing but indexes a whole dataset on construction, which costs seconds per job; a file name's
grammar is small enough to hold here.

The builder accepts Snakemake wildcard placeholders as values (``sub="{subject}"``), so the
rules build their patterns with the same function the package uses for concrete files.

The dataset-level files a valid BIDS dataset needs are written here too:
:func:`write_dataset_files` (``dataset_description.json`` and ``.bidsignore``) and
:func:`write_participants` (``participants.tsv`` with ``sub-<label>`` ids and the
``participants.json`` that describes its columns, from the study's participants schema).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BIDS_VERSION",
    "ENTITY_ORDER",
    "BidsName",
    "bare_labels",
    "bids_name",
    "bids_path",
    "by_subject",
    "parse_entities",
    "participants_sidecar",
    "sidecar_path",
    "subject_of",
    "write_dataset_files",
    "write_participants",
]

#: The BIDS specification version the datasets qmrflow writes follow.
BIDS_VERSION = "1.10.0"

PathLike = str | os.PathLike[str]

#: Entity keys in the order the BIDS specification (appendix "Entity table") puts them in a
#: file name. Only these are written; the parser reads any ``key-value`` pair (old qmrflow
#: datasets named 2D slices ``slice-<n>``, which BIDS lacks).
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


def bare_labels(ids: pd.Series) -> pd.Series:
    """Participant ids as labels: ``sub-01`` -> ``01`` (BIDS tables write the prefix, qmrflow's
    tables and subject wildcards hold the label; a bare label stays as it is)."""
    return ids.str.removeprefix("sub-")


def participants_sidecar(schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``participants.json``: each column of a participants schema with its description.

    Enumerated columns list their levels (BIDS ``Levels``); the schema's ``description`` of a
    column becomes its ``Description``.
    """
    columns: dict[str, dict[str, Any]] = {}
    for name, spec in schema.get("properties", {}).items():
        entry: dict[str, Any] = {"Description": str(spec.get("description", name)).strip()}
        if name == "participant_id":
            entry["Description"] = "Participant label, sub-<label>."
        elif "enum" in spec:
            entry["Levels"] = {str(level): str(level) for level in spec["enum"]}
        columns[name] = entry
    return columns


def write_participants(
    table: pd.DataFrame, root: PathLike, schema: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write ``participants.tsv`` (ids as ``sub-<label>``) and ``participants.json``.

    Columns of ``table`` that the schema does not describe are described by their name.
    """
    from qmrflow.io.tables import write_json, write_tsv

    ids = table["participant_id"].astype(str)
    out = table.assign(participant_id=ids.where(ids.str.startswith("sub-"), "sub-" + ids))
    columns = participants_sidecar(schema)
    for name in out.columns:
        columns.setdefault(name, {"Description": name})
    tsv = write_tsv(out, Path(root) / "participants.tsv")
    sidecar = write_json(
        {name: columns[name] for name in out.columns}, Path(root, "participants.json")
    )
    return tsv, sidecar


def write_dataset_files(
    root: PathLike,
    *,
    name: str,
    dataset_type: str,
    generated_by: str,
    ignore: Sequence[str] = (),
    source: PathLike | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write a dataset's ``dataset_description.json`` and, if needed, its ``.bidsignore``.

    Parameters
    ----------
    root
        The dataset's folder.
    name
        Its ``Name``.
    dataset_type
        ``raw`` or ``derivative``.
    generated_by
        ``GeneratedBy[0].Description`` (qmrflow is the generator).
    ignore
        ``.bidsignore`` patterns: the files of the dataset the specification has no name for.
    source
        The dataset this one derives from (``SourceDatasets``).
    extra
        Further top-level keys (e.g. provenance).
    """
    from qmrflow import __version__
    from qmrflow.io.tables import write_json

    if dataset_type not in ("raw", "derivative"):
        raise ValueError(f"dataset_type must be raw or derivative, got {dataset_type!r}")
    description: dict[str, Any] = {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": dataset_type,
        "GeneratedBy": [{"Name": "qmrflow", "Version": __version__, "Description": generated_by}],
    }
    if source is not None:
        description["SourceDatasets"] = [{"URL": f"file://{Path(source).resolve()}"}]
    description.update(extra or {})
    written = [write_json(description, Path(root) / "dataset_description.json")]
    if ignore:
        from qmrflow.io.atomic import atomic_output

        with atomic_output(Path(root) / ".bidsignore") as tmp:
            tmp.write_text("".join(f"{pattern}\n" for pattern in ignore))
        written.append(Path(root) / ".bidsignore")
    return written
