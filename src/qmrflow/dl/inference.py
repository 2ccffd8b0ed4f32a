"""Batched inference, and torch-only inference programs that start without MONAI.

A per-subject inference job used to spend most of its time importing MONAI (about 7 s; its
``__init__`` imports every submodule) to rebuild a network whose weights it then loads. Training
jobs therefore also export the trained network with :func:`torch.export.export` and store its
graph inside the checkpoint (:func:`export_program`), and inference jobs rebuild it from the
graph with torch alone (:func:`load_program`).

Safe loading is kept: ``torch.export.save`` / ``load`` pickle the weights, so they are not used.
The graph is stored as torch's JSON serialisation (operator names and tensor metadata, no code:
deserialising it runs nothing from the file), as a ``uint8`` tensor in the checkpoint's dict of
tensors; the weights stay the checkpoint's own tensors. The whole file is still verified by its
sha256 and loaded with ``weights_only=True`` (:mod:`qmrflow.dl.checkpoint`).

The JSON format belongs to the torch version that wrote it (``torch._export.serde`` is not a
public API). A program that does not load under the running torch is reported and the caller
rebuilds the network the slow way from the weights.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

#: Checkpoint keys holding a program: the serialised graph and its JSON header (uint8 tensors).
PROGRAM_KEY = "__qmrflow_program__"
HEADER_KEY = "__qmrflow_program_header__"
#: Prefix of a program's constant tensors in the checkpoint.
CONSTANT_PREFIX = "__qmrflow_program_constant__."

_RESERVED = (PROGRAM_KEY, HEADER_KEY, CONSTANT_PREFIX)


def is_program_key(key: str) -> bool:
    """True for the checkpoint entries that hold an exported program rather than weights."""
    return key.startswith(_RESERVED)


@torch.no_grad()
def predict_batches(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: np.ndarray | torch.Tensor,
    device: torch.device,
    batch_size: int = 64,
    *,
    memory_format: torch.memory_format = torch.contiguous_format,
    output: int = 0,
) -> np.ndarray:
    """Outputs of a network for a stack of inputs, in batches, as float32 numpy (eval mode).

    ``model`` may return a tuple of outputs; ``output`` picks the one returned.
    """
    if isinstance(model, nn.Module):
        model.eval()
    inputs = torch.as_tensor(x, dtype=torch.float32)
    outputs = []
    for i in range(0, inputs.shape[0], batch_size):
        batch = inputs[i : i + batch_size].to(device).contiguous(memory_format=memory_format)
        out = model(batch)
        outputs.append((out[output] if isinstance(out, tuple) else out).float().cpu().contiguous())
    return torch.cat(outputs).numpy() if outputs else np.zeros(0, dtype=np.float32)


def predict_logits(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: np.ndarray | torch.Tensor,
    device: torch.device,
    batch_size: int = 64,
) -> np.ndarray:
    """Logits of a binary classifier for a stack of images (N, C, X, Y): (N,) float32."""
    out = predict_batches(model, x, device, batch_size)
    return out.reshape(-1) if out.size else np.zeros(0, dtype=np.float32)


def export_program(
    module: nn.Module,
    example: torch.Tensor,
    *,
    prefix: str = "",
    dynamic_dims: Sequence[int] = (0,),
) -> dict[str, torch.Tensor]:
    """Export ``module`` (in eval mode) for torch-only inference; the checkpoint entries to add.

    Parameters
    ----------
    module
        Network (or a wrapper around it) taking one tensor.
    example
        An input of the right rank and channels (two or more samples).
    prefix
        What the module's parameter names add to those of the checkpoint's weights (a wrapper
        holding the network as ``model`` adds ``"model."``): the program is bound to the
        checkpoint's own tensors, which are not stored twice.
    dynamic_dims
        Axes of the input whose size may change between calls (the batch, and spatial axes
        for fully convolutional networks).

    Returns
    -------
    dict
        Entries for :func:`qmrflow.dl.checkpoint.save_checkpoint`'s ``extra``; empty (with a
        warning) when torch cannot export the module, so inference rebuilds it the slow way.
    """
    from torch._export.serde.serialize import serialize

    module = module.eval()
    dims = {axis: torch.export.Dim.AUTO for axis in dynamic_dims}
    try:
        with torch.no_grad():
            program = torch.export.export(module, (example,), dynamic_shapes=(dims,))
            outputs = module(example)
        artifact = serialize(
            program,
            serialize_state_dict=False,
            serialize_constants=False,
            serialize_example_inputs=False,
        )
    except Exception as exc:  # torch.export raises many types for unsupported code
        logger.warning(
            "%s could not be exported for fast inference: %s", type(module).__name__, exc
        )
        return {}
    weights = sorted(program.state_dict)
    if not all(name.startswith(prefix) for name in weights):
        raise ValueError(f"exported weights do not all start with {prefix!r}")
    header = {
        "torch": torch.__version__,
        "prefix": prefix,
        "weights": [name[len(prefix) :] for name in weights],
        "parameters": sorted(name[len(prefix) :] for name in program.graph_signature.parameters),
        "input_rank": example.ndim,
        "outputs": len(outputs) if isinstance(outputs, tuple) else 1,
    }
    entries = {
        PROGRAM_KEY: torch.frombuffer(bytearray(artifact.exported_program), dtype=torch.uint8),
        HEADER_KEY: torch.frombuffer(bytearray(json.dumps(header).encode()), dtype=torch.uint8),
    }
    for name, value in program.constants.items():
        if not isinstance(value, torch.Tensor):
            logger.warning("exported program holds a non-tensor constant %s; not kept", name)
            return {}
        entries[CONSTANT_PREFIX + name] = value.detach().cpu().contiguous()
    return entries


def program_header(tensors: Mapping[str, torch.Tensor]) -> dict | None:
    """What :func:`export_program` recorded (torch version, weights, number of outputs), or None."""
    if HEADER_KEY not in tensors:
        return None
    return json.loads(tensors[HEADER_KEY].numpy().tobytes())


def load_program(
    tensors: Mapping[str, torch.Tensor], source: str, device: torch.device | str = "cpu"
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The inference module stored by :func:`export_program`, or None if there is none.

    Parameters
    ----------
    tensors
        Everything a verified checkpoint holds (weights and program entries).
    source
        The checkpoint file, for messages.
    device
        Where the program runs.

    Returns
    -------
    callable or None
        None (with a warning when a program was present) when the checkpoint holds no program or
        it does not load under this torch: the caller rebuilds the network from the weights.
    """
    if PROGRAM_KEY not in tensors or HEADER_KEY not in tensors:
        return None
    from torch._export.serde.serialize import SerializedArtifact, deserialize

    header = program_header(tensors)
    prefix = header["prefix"]
    constants = {
        key[len(CONSTANT_PREFIX) :]: value
        for key, value in tensors.items()
        if key.startswith(CONSTANT_PREFIX)
    }
    try:
        parameters = set(header["parameters"])
        state = {
            prefix + name: (
                nn.Parameter(tensors[name], requires_grad=False)
                if name in parameters
                else tensors[name]
            )
            for name in header["weights"]
        }
        artifact = SerializedArtifact(tensors[PROGRAM_KEY].numpy().tobytes(), state, constants, b"")
        module = deserialize(artifact).module().to(device)
    except Exception as exc:  # version skew or a program written by another torch
        logger.warning(
            "%s: inference program (torch %s) does not load under torch %s (%s); rebuilding the "
            "network from its weights instead",
            source,
            header.get("torch"),
            torch.__version__,
            exc,
        )
        return None
    # A plain function: an exported module refuses train()/eval() (its graph is already the
    # eval-mode one), which generic callers would otherwise try.
    return lambda x: module(x)
