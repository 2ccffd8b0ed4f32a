"""Checkpoint registry: weights plus provenance, verified by sha256 before they are loaded.

A checkpoint is two files: ``<name>.pt`` (``torch.save`` of a plain dict of tensors, loadable with
``weights_only=True``: the weights and, where the network could be exported, its inference
program, :mod:`qmrflow.dl.inference`) and ``<name>.json`` beside it: the file's sha256 and the
metadata (:func:`training_metadata`: seed, config hash, training subjects, package
versions...). Loading checks the sha256 first and then unpickles with ``weights_only=True``, so
a tampered or truncated file is refused before torch touches it and no arbitrary code can run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from qmrflow.dl.inference import is_program_key, load_program
from qmrflow.errors import ModelError
from qmrflow.io.atomic import atomic_output
from qmrflow.io.tables import write_json
from qmrflow.provenance import config_hash, package_versions

if TYPE_CHECKING:
    from qmrflow.dl.training import TrainResult

logger = logging.getLogger(__name__)


def sha256sum(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def metadata_path(path: str | os.PathLike[str]) -> Path:
    """The metadata JSON beside a checkpoint (``model.pt`` -> ``model.json``)."""
    return Path(path).with_suffix(".json")


def check_not_trained_on(
    subject: str, metadata: Mapping[str, Any], path: str | os.PathLike[str]
) -> None:
    """Refuse to apply a model to a subject it was trained or selected on (the leakage guard).

    Raises
    ------
    ModelError
        ``subject`` is in the metadata's ``training_subjects`` or ``validation_subjects``; the
        message names the subject and the model file.
    """
    seen = set(metadata.get("training_subjects", [])) | set(metadata.get("validation_subjects", []))
    if subject in seen:
        raise ModelError(
            f"sub-{subject}: model {path} was trained/selected on this subject; applying it "
            "there would leak training data into the results (check the split column)"
        )


def training_metadata(
    *,
    study: str,
    task: str,
    seed: int,
    provenance: Mapping[str, Any],
    training_subjects: Iterable[str],
    validation_subjects: Iterable[str],
    result: TrainResult,
    device: torch.device,
    **details: Any,
) -> dict[str, Any]:
    """The metadata every study records with a trained model.

    Parameters
    ----------
    study, task
        What the model is for.
    seed
        The training seed (runs are deterministic: :func:`qmrflow.dl.seed.deterministic`).
    provenance
        The configuration that determines the model: stored, and hashed into ``config_hash``.
    training_subjects, validation_subjects
        Who the model was fitted and selected on (the leakage guard,
        :func:`check_not_trained_on`, reads them).
    result
        The training run: selected epoch, its metrics as ``best_<metric>``, epochs run, time.
    device
        Where it trained.
    details
        Study-specific entries (architecture, settings, input shape...).
    """
    best = {f"best_{k}": v for k, v in result.best.items() if k not in ("epoch", "seconds")}
    return {
        "study": study,
        "task": task,
        **details,
        "seed": seed,
        "deterministic": True,
        "config_hash": config_hash(provenance),
        "provenance": dict(provenance),
        "training_subjects": sorted(training_subjects),
        "validation_subjects": sorted(validation_subjects),
        "best_epoch": result.best_epoch,
        **best,
        "epochs_run": len(result.history),
        "trainable_parameters": result.trainable_parameters,
        "training_seconds": result.seconds,
        "device": str(device),
    }


@dataclass(frozen=True)
class Checkpoint:
    """A verified, loaded checkpoint: its weights, its inference program entries (may be empty)."""

    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    sha256: str
    path: Path
    program: dict[str, torch.Tensor]


def save_checkpoint(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any],
    *,
    program: Mapping[str, torch.Tensor] | None = None,
) -> str:
    """Write weights and their metadata sidecar; return the file's sha256.

    Parameters
    ----------
    state_dict
        Model weights (moved to the CPU before saving).
    path
        Destination ``.pt`` file; the sidecar goes to the same name with ``.json``.
    metadata
        JSON-serialisable provenance; package versions and a UTC timestamp are added.
    program
        Inference-program entries (:func:`qmrflow.dl.inference.export_program`), stored in the
        same file so that one sha256 covers weights and program.
    """
    cpu_state = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    if any(is_program_key(k) for k in cpu_state):
        raise ValueError("weights use a name reserved for the inference program")
    cpu_state |= dict(program or {})
    # Serialise in memory: torch.save names the archive's inner folder after the file it
    # writes, so saving to a temporary file would give identical weights different checksums.
    buffer = io.BytesIO()
    torch.save(cpu_state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    with atomic_output(path) as tmp:
        tmp.write_bytes(payload)
    record = {
        **metadata,
        "sha256": digest,
        "file": Path(path).name,
        "inference_program": bool(program),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
    }
    write_json(record, metadata_path(path))
    logger.info("wrote checkpoint %s (sha256 %s)", path, digest)
    return digest


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    expected_sha256: str | None = None,
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Verify a checkpoint's sha256, then load it with ``weights_only=True``.

    Parameters
    ----------
    path
        The ``.pt`` file.
    expected_sha256
        Checksum to verify against. When ``None`` it is read from the sidecar JSON; a checkpoint
        with neither is refused.
    map_location
        Where to put the tensors.

    Raises
    ------
    ModelError
        Missing file, no checksum to verify against, checksum mismatch, or a file torch cannot
        load as plain weights.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found")
    sidecar = metadata_path(path)
    metadata: dict[str, Any] = {}
    if sidecar.is_file():
        try:
            metadata = json.loads(sidecar.read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"{sidecar}: unreadable checkpoint metadata: {exc}") from exc
    expected = expected_sha256 or metadata.get("sha256")
    if not expected:
        raise ModelError(
            f"{path}: no sha256 to verify against (give its sha256 in the config or keep the "
            f"qmrflow metadata file {sidecar.name} beside it)"
        )
    actual = sha256sum(path)
    if actual != expected.lower():
        raise ModelError(
            f"{path}: sha256 mismatch (expected {expected}, file has {actual}); the file was "
            "modified or truncated, refusing to load it"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for unsafe or broken pickles
        raise ModelError(f"{path}: not loadable as plain weights: {exc}") from exc
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ModelError(f"{path}: expected a dict of tensors (a state_dict)")
    return Checkpoint(
        state_dict={k: v for k, v in state.items() if not is_program_key(k)},
        metadata=metadata,
        sha256=actual,
        path=path,
        program={k: v for k, v in state.items() if is_program_key(k)},
    )


def runnable(
    checkpoint: Checkpoint,
    device: torch.device,
    build: Callable[[], torch.nn.Module],
    *,
    program: bool = True,
    what: str = "network",
    memory_format: torch.memory_format = torch.preserve_format,
) -> Callable[..., Any]:
    """What runs a verified checkpoint: its stored inference program or, when it has none,
    ``program`` is False or the program cannot run here, the network ``build()`` makes with
    the checkpoint's weights, on ``device`` in eval mode.

    Raises
    ------
    ModelError
        The weights do not fit the built network (``what`` names it in the message).
    """
    if program:
        run = load_program(checkpoint.state_dict | checkpoint.program, str(checkpoint.path), device)
        if run is not None:
            return run
    network = build()
    try:
        network.load_state_dict(checkpoint.state_dict)
    except RuntimeError as exc:
        raise ModelError(
            f"{checkpoint.path}: weights do not fit the recorded {what}: {exc}"
        ) from exc
    return network.to(device, memory_format=memory_format).eval()
