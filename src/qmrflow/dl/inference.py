"""Batched inference, and torch-only inference programs that start without MONAI.

A per-subject inference job used to spend most of its time importing MONAI (about 7 s; its
``__init__`` imports every submodule) to rebuild a network whose weights it then loads. Training
jobs therefore also export the trained network with :func:`torch.export.export` and store its
graph inside the checkpoint (:func:`export_program`), and inference jobs rebuild it from the
graph with torch alone (:func:`load_program`).

Safe loading is kept: ``torch.export.save`` / ``load`` pickle the weights, so they are not used.
The graph is stored as torch's JSON serialisation (a list of ATen operator calls by name with
their arguments: no code), as a ``uint8`` tensor in the checkpoint's dict of tensors; the
weights stay the checkpoint's own tensors. The whole file is still verified by its sha256 and
loaded with ``weights_only=True`` (:mod:`qmrflow.dl.checkpoint`).

Running the graph: torch's own deserialiser (``torch._export.serde``) imports ``torch._dynamo``
and rebuilds a ``GraphModule`` through code generation, which costs about as much start-up as
the MONAI import it replaces. :class:`Program` interprets the JSON graph instead, written here
for that reason: it looks each operator up in ``torch.ops.aten`` (and a few arithmetic
functions for symbolic sizes) and calls it, and refuses anything else, so nothing in the file
can name other code. The JSON format belongs to the torch version that wrote it (it is not a
public API); a program this interpreter cannot run is reported and the caller rebuilds the
network the slow way from the weights.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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
    return predict_batches(model, x, device, batch_size).reshape(-1)


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
        An input batch of the right rank and channels (its first sample is repeated to two:
        :func:`torch.export.export` fixes a batch axis of size 1).
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
        Entries for :func:`qmrflow.dl.checkpoint.save_checkpoint`'s ``program``; empty (with a
        warning) when torch cannot export the module, so inference rebuilds it the slow way.
    """
    from torch._export.serde.serialize import serialize

    module = module.eval()
    example = torch.as_tensor(example[:1]).repeat(2, *([1] * (example.ndim - 1)))
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


#: Argument kinds whose JSON value is the argument itself.
_LITERALS = ("as_int", "as_float", "as_bool", "as_string", "as_ints", "as_floats", "as_bools")


class ProgramError(ValueError):
    """A stored program this interpreter cannot run (an unknown operator or argument kind)."""


#: Python arithmetic that exported graphs use on symbolic sizes (e.g. ``2 * height``).
_OPERATORS: dict[str, Callable[..., Any]] = {
    f"_operator.{name}": getattr(operator, name)
    for name in ("add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "getitem")
}


def _operator(target: str) -> Callable[..., Any]:
    if target in _OPERATORS:
        return _OPERATORS[target]
    namespace, _, rest = target.rpartition(".ops.aten.")
    if namespace != "torch" or rest.count(".") != 1:
        raise ProgramError(f"operator {target!r} is not an ATen operator")
    name, overload = rest.split(".")
    try:
        return getattr(getattr(torch.ops.aten, name), overload)
    except (AttributeError, RuntimeError) as exc:
        raise ProgramError(f"operator {target!r} is not in this torch") from exc


class Program:
    """An exported graph run by interpretation: each node calls one ATen operator.

    Parameters
    ----------
    graph
        The ``graph_module`` of torch's JSON serialisation of an ``ExportedProgram``.
    tensors
        Weights and buffers by the names in the graph signature; constants likewise.
    device
        Where the tensors (and so the computation) go.
    """

    def __init__(
        self,
        graph: Mapping[str, Any],
        tensors: Mapping[str, torch.Tensor],
        device: torch.device | str = "cpu",
    ) -> None:
        self._bound: dict[str, torch.Tensor] = {}
        self._user: list[str] = []
        for spec in graph["signature"]["input_specs"]:
            ((kind, body),) = spec.items()
            name = (
                body["arg"]["name"] if "name" in body["arg"] else body["arg"]["as_tensor"]["name"]
            )
            if kind == "user_input":
                self._user.append(name)
                continue
            key = {"parameter": "parameter_name", "buffer": "buffer_name"}.get(
                kind, "tensor_constant_name"
            )
            if kind not in ("parameter", "buffer", "tensor_constant") or body[key] not in tensors:
                raise ProgramError(f"graph input {name!r} ({kind}) has no tensor")
            self._bound[name] = tensors[body[key]].to(device)
        outputs = []
        for spec in graph["signature"]["output_specs"]:
            ((kind, body),) = spec.items()
            if kind != "user_output":
                raise ProgramError(f"graph output of kind {kind!r} (a mutation) is not supported")
            outputs.append(body["arg"])
        self._outputs = outputs
        self._nodes = [
            (_operator(node["target"]), node["inputs"], node["outputs"])
            for node in graph["graph"]["nodes"]
        ]

    def _value(self, arg: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
        ((kind, value),) = arg.items()
        if kind == "as_none":
            return None
        if kind == "as_tensor":
            return env[value["name"]]
        if kind in ("as_tensors", "as_optional_tensors"):
            return [self._value(v, env) if "name" not in v else env[v["name"]] for v in value]
        if kind in (
            "as_int",
            "as_float",
            "as_bool",
            "as_string",
            "as_ints",
            "as_floats",
            "as_bools",
        ):
            return value
        if kind in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            return self._symbol(value, env)
        if kind in ("as_sym_ints", "as_sym_floats", "as_sym_bools"):
            return [self._symbol(v, env) for v in value]
        raise ProgramError(f"argument kind {kind!r} is not supported")

    @staticmethod
    def _symbol(value: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
        ((kind, item),) = value.items()
        return env[item] if kind == "as_name" else item

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Run the graph on the user inputs; one tensor or a tuple of them."""
        if len(inputs) != len(self._user):
            raise TypeError(f"program takes {len(self._user)} inputs, got {len(inputs)}")
        env: dict[str, Any] = {**self._bound, **dict(zip(self._user, inputs, strict=True))}
        with torch.no_grad():
            for function, arguments, outputs in self._nodes:
                args, kwargs = [], {}
                for argument in arguments:
                    value = self._value(argument["arg"], env)
                    if argument.get("kind", 1) == 1:
                        args.append(value)
                    else:
                        kwargs[argument["name"]] = value
                result = function(*args, **kwargs)
                # One output: a tensor, or a list of them (e.g. ``aten.split``) stored whole.
                if len(outputs) == 1 and (
                    "as_tensors" in outputs[0] or not isinstance(result, tuple | list)
                ):
                    result = (result,)
                for output, value in zip(outputs, result, strict=False):
                    self._store(output, value, env)
        values = tuple(self._value(o, env) for o in self._outputs)
        return values[0] if len(values) == 1 else values

    @staticmethod
    def _store(output: Mapping[str, Any], value: Any, env: dict[str, Any]) -> None:
        ((kind, body),) = output.items()
        if kind == "as_tensor":
            env[body["name"]] = value
        elif kind in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            env[body["as_name"]] = value
        elif kind == "as_tensors":
            for item, part in zip(body, value, strict=True):
                env[item["name"]] = part
        elif kind != "as_none":
            raise ProgramError(f"output kind {kind!r} is not supported")


def load_program(
    tensors: Mapping[str, torch.Tensor], source: str, device: torch.device | str = "cpu"
) -> Program | None:
    """The inference program stored by :func:`export_program`, or None if there is none.

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
    Program or None
        None (with a warning when a program was present) when the checkpoint holds no program or
        this interpreter cannot run it: the caller rebuilds the network from the weights.
    """
    header = program_header(tensors)
    if header is None or PROGRAM_KEY not in tensors:
        return None
    prefix = header["prefix"]
    named = {prefix + name: tensors[name] for name in header["weights"] if name in tensors}
    named |= {
        key[len(CONSTANT_PREFIX) :]: value
        for key, value in tensors.items()
        if key.startswith(CONSTANT_PREFIX)
    }
    try:
        serialised = json.loads(tensors[PROGRAM_KEY].numpy().tobytes())
        return Program(serialised["graph_module"], named, device)
    except (ProgramError, KeyError, TypeError, ValueError) as exc:
        logger.warning(
            "%s: inference program (written by torch %s) cannot run here (%s); rebuilding the "
            "network from its weights instead",
            source,
            header.get("torch"),
            exc,
        )
        return None
