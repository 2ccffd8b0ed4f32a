"""Configuration and participants-table validation against JSON Schemas.

The workflow calls these at start-up, before any job is planned, so that a typo in the config or
a bad row in a participants table stops the run with a message naming the file, the row and the
field. Snakemake's own ``validate`` reports jsonschema's raw message without the row or the file,
and it would be imported here; the package never imports snakemake, so this module does it with
jsonschema directly.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml
from jsonschema import Draft202012Validator, validators

from qmrflow.errors import ConfigError
from qmrflow.io.bids import bare_labels

logger = logging.getLogger(__name__)

# BIDS participants tables write ids as ``sub-<label>``; qmrflow uses the bare label.


def _extend_with_defaults(validator_class: type) -> type:
    """Return a validator class that fills in ``default`` values while validating.

    jsonschema deliberately does not fill defaults; this is the extension recipe from its FAQ.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _extend_with_defaults(Draft202012Validator)


def load_schema(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON Schema written in YAML (or JSON)."""
    with Path(path).open() as handle:
        return yaml.safe_load(handle)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"{error.message} (not a known key; see config/README.md)"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{error.instance!r} is not one of: {allowed}"
    return error.message


def validate_config(
    config: dict[str, Any], schema: Mapping[str, Any], *, files: Iterable[str | os.PathLike] = ()
) -> dict[str, Any]:
    """Validate a configuration and fill in defaults, in place.

    An absent section takes its default (usually ``{}``), which is then validated in the same
    pass, filling its own keys.

    Parameters
    ----------
    config
        The merged configuration (modified in place and returned).
    schema
        The config schema.
    files
        The configuration files that were merged, named in error messages.

    Raises
    ------
    ConfigError
        Naming the file(s), the key path and what is wrong. All problems are reported at once.
    """
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        where = ", ".join(str(f) for f in files) or "config"
        lines = [f"{_key_path(e)}: {_describe(e)}" for e in errors]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines), file=where)
    return config


def _cell(value: Any) -> Any:
    """Turn a pandas cell into a JSON value (numbers stay numbers, empty cells vanish)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def read_participants(path: str | os.PathLike[str], schema: Mapping[str, Any]) -> pd.DataFrame:
    """Read and validate a participants table.

    Parameters
    ----------
    path
        ``participants.tsv`` (tab separated, header row).
    schema
        JSON Schema of one row.

    Returns
    -------
    pandas.DataFrame
        The table with ``participant_id`` stripped of a ``sub-`` prefix, in file order.

    Raises
    ------
    ConfigError
        The file is missing or unreadable, a required column is missing, an id is duplicated or
        unsafe, or a cell does not match the schema; the message names the file, the row (1-based
        data row and file line) and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("participants table not found", file=path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a readable TSV table: {exc}", file=path) from exc
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in schema.get("required", []) if c not in table.columns]
    if missing:
        raise ConfigError(
            f"missing required column(s) {', '.join(missing)} (columns found: "
            f"{', '.join(table.columns)})",
            file=path,
        )
    if table.empty:
        raise ConfigError("participants table has no rows", file=path)

    table = table.apply(lambda col: col.str.strip())
    table["participant_id"] = bare_labels(table["participant_id"])
    # Cells are read as text; columns the schema declares numeric are converted (a cell that is
    # not a number stays text so the schema reports it), the rest stay text.
    typed = table.replace("", None)
    for name, spec in schema.get("properties", {}).items():
        kinds = spec.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if name in typed and {"number", "integer"} & set(kinds):
            numbers = pd.to_numeric(typed[name], errors="coerce")
            typed[name] = typed[name].where(numbers.isna(), numbers).astype(object)

    validator = Draft202012Validator(schema)
    problems: list[str] = []
    for index, record in enumerate(typed.to_dict(orient="records")):
        row = {k: _cell(v) for k, v in record.items()}
        row = {k: v for k, v in row.items() if v is not None}
        for error in validator.iter_errors(row):
            if error.validator == "required":
                # "'<name>' is a required property": the column exists, its cell is empty
                field, what = error.message.split("'")[1], "is empty (required)"
            else:
                field, what = (error.path[0] if error.path else "?"), _describe(error)
            problems.append(f"row {index + 1} (line {index + 2}), column {field}: {what}")
    duplicated = table["participant_id"].duplicated(keep=False)
    for pid in table.loc[duplicated, "participant_id"].unique():
        rows = [str(i + 1) for i in table.index[table["participant_id"] == pid]]
        problems.append(f"column participant_id: duplicate id {pid!r} in rows {', '.join(rows)}")
    if problems:
        raise ConfigError("invalid participants table:\n  " + "\n  ".join(problems), file=path)
    logger.info("%s: %d participants", path, len(typed))
    return typed.reset_index(drop=True)


def check_training_splits(
    table: pd.DataFrame,
    *,
    positive: Iterable[str],
    file: str | os.PathLike[str],
    splits: tuple[str, ...] = ("train", "val"),
) -> None:
    """Require both classes in every split a model is fitted or selected on.

    Parameters
    ----------
    table
        Validated participants table (``diagnosis`` and ``split`` columns).
    positive
        Diagnoses of the positive class.
    file
        The participants file, named in the error.
    splits
        Splits that must hold both classes.

    Raises
    ------
    ConfigError
        A split lacks positive or negative cases.
    """
    positives = set(positive)
    problems = []
    for split in splits:
        rows = table[table["split"] == split]
        n_pos = int(rows["diagnosis"].isin(positives).sum())
        n_neg = len(rows) - n_pos
        if n_pos == 0 or n_neg == 0:
            problems.append(
                f"split {split!r} has {n_pos} positive ({', '.join(sorted(positives))}) and "
                f"{n_neg} negative cases; training needs both classes in {' and '.join(splits)}"
            )
    if problems:
        raise ConfigError("; ".join(problems), file=file, location="column split")


def check_study_splits(table: pd.DataFrame, training: bool, file: str | os.PathLike[str]) -> None:
    """The usual participants check of a study: subjects in ``train``, ``val`` and ``test`` when
    it trains a model, else (every model given in the config) in ``test``."""
    needed = ("train", "val", "test") if training else ("test",)
    check_splits_present(table, splits=needed, file=file)


def check_splits_present(
    table: pd.DataFrame, *, splits: Iterable[str], file: str | os.PathLike[str]
) -> None:
    """Require at least one participant in every split of ``splits``.

    Raises
    ------
    ConfigError
        A split has no participant (e.g. no ``test`` subject: nothing would be evaluated).
    """
    counts = table["split"].value_counts()
    empty = [split for split in splits if counts.get(split, 0) == 0]
    if empty:
        raise ConfigError(
            f"no participant in split(s) {empty}; the study needs at least one in each of "
            f"{list(splits)}",
            file=file,
            location="column split",
        )
