"""Synthetic inputs of the methods-text tests: a study's validated config section, a small
participants table and model metadata, and the text a study's builder writes from them."""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from qmrflow.config import load_schema, validate_config
from qmrflow.report.methods import (
    MethodsContext,
    MethodsDocument,
    ModelRecord,
    compose_methods,
    study_builder,
    to_markdown,
)

REPO = Path(__file__).resolve().parents[2]
MASTER_SEED = 777
VERSIONS = {"qmrflow": "9.8.7", "torch": "3.1.4", "monai": "2.7.1", "numpy": "2.0.0"}


def merged(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``change`` merged in, key by key."""
    out = copy.deepcopy(dict(base))
    for key, value in change.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, Mapping) else value
    return out


@functools.cache
def _schema() -> dict[str, Any]:
    return load_schema(REPO / "config/schemas/config.schema.yaml")


def study_config(study: str, change: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The study's config section as the workflow validates it (defaults filled in)."""
    config = {"studies": [study], study: merged({}, change or {})}
    validate_config(config, copy.deepcopy(_schema()))
    return config[study]


def participants(
    counts: Sequence[int] = (3, 1, 2), **columns: Sequence[Any]
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """A participants table of ``counts`` train/val/test subjects and the splits."""
    splits = {
        split: [f"{split}{i:02d}" for i in range(n)]
        for split, n in zip(("train", "val", "test"), counts, strict=True)
    }
    rows = [(pid, split) for split, ids in splits.items() for pid in ids]
    table = pd.DataFrame(rows, columns=["participant_id", "split"])
    for name, values in columns.items():
        table[name] = list(values)
    return table, splits


def model_metadata(
    name: str, settings: Mapping[str, Any] | None = None, *, seed: int = 4321, **extra: Any
) -> dict[str, Any]:
    """Metadata as a training job records it, with a distinct checksum per model name."""
    return {
        "task": f"the {name} task",
        "sha256": hashlib.sha256(name.encode()).hexdigest(),
        "file": "model.pt",
        "seed": seed,
        "deterministic": True,
        "device": "cuda:0",
        "training_subjects": ["train00", "train01", "train02"],
        "validation_subjects": ["val00"],
        "versions": dict(VERSIONS),
        "settings": dict(settings or {}),
        **extra,
    }


def study_context(
    study: str,
    change: Mapping[str, Any] | None = None,
    *,
    models: Mapping[str, Mapping[str, Any]],
    table: pd.DataFrame | None = None,
    splits: Mapping[str, Sequence[str]] | None = None,
    given: Sequence[str] = (),
    left_out: Sequence[str] = (),
) -> MethodsContext:
    """A methods context of ``study`` on synthetic inputs (models: name -> metadata)."""
    if table is None:
        table, default_splits = participants()
        splits = splits or default_splits
    return MethodsContext(
        study=study,
        config=study_config(study, change),
        participants=table,
        splits={split: list(ids) for split, ids in (splits or {}).items()},
        models={
            name: ModelRecord(
                name=name,
                metadata=metadata,
                metadata_file=f"models/{study}/{name}/model.json",
                given=name in given,
            )
            for name, metadata in models.items()
        },
        training_seed=4321,
        master_seed=MASTER_SEED,
        left_out=tuple(left_out),
    )


def document(context: MethodsContext) -> MethodsDocument:
    """The whole methods document of the context's study."""
    methods = study_builder(context.study)(context)
    return compose_methods(context, methods, snakemake_version="9.99.0")


def text(context: MethodsContext) -> str:
    """The study's methods text as plain Markdown, unescaped for substring checks."""
    markdown = to_markdown(document(context))
    for char in "\\`*_[]<>#|":
        markdown = markdown.replace(f"\\{char}", char)
    return markdown
