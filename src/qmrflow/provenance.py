"""Provenance records: BIDS-derivatives ``dataset_description.json`` with GeneratedBy."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from qmrflow.io.bids import write_dataset_files

_VERSIONED = ("qmrflow", "torch", "monai", "numpy", "nibabel", "scipy", "scikit-learn", "pandas")


def config_hash(section: Mapping[str, Any]) -> str:
    """Stable sha256 of a configuration section (keys sorted), for provenance records."""
    text = json.dumps(section, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def package_versions(names: Sequence[str] = _VERSIONED) -> dict[str, str]:
    """Versions of the packages that determine a result (for metadata records).

    Parameters
    ----------
    names
        Distribution names as installed (``importlib.metadata``); Python's own version is
        always first. A package that is not installed is recorded as ``"not installed"``.
    """
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_dataset_description(
    path: str | os.PathLike[str],
    *,
    study: str,
    dataset: str,
    config: Mapping[str, Any],
    models: Sequence[str | os.PathLike[str]] = (),
    ignore: Sequence[str] = (),
) -> Path:
    """Write the derivatives' ``dataset_description.json`` and ``.bidsignore`` beside it.

    Records the qmrflow version, the config hash of the study section, the source dataset and
    the seeds and checksums of every model used, so a figure can be traced to what made it.
    The ``.bidsignore`` lists the group folder (tables and figures, which BIDS does not name)
    and the study's own ``ignore`` patterns.
    """
    model_records = []
    for meta_path in models:
        meta = json.loads(Path(meta_path).read_text())
        record = {key: meta.get(key) for key in ("architecture", "sha256", "seed", "config_hash")}
        # Where the applied checkpoint is: trained here, or a finished model named in the config.
        record["file"] = str(Path(meta_path).with_name(meta.get("file", "model.pt")))
        model_records.append(record)
    write_dataset_files(
        Path(path).parent,
        name=f"qmrflow derivatives: study {study}",
        dataset_type="derivative",
        generated_by=f"study {study}",
        ignore=("/group", *ignore),
        source=dataset,
        extra={
            "qmrflow": {
                "config_hash": config_hash(config),
                "config": dict(config),
                "models": model_records,
                "versions": package_versions(),
            }
        },
    )
    return Path(path)
