"""Checkpoint registry (qmrflow.dl.checkpoint): sha256 before weights_only loading."""

import json

import pytest
import torch

from qmrflow.dl.checkpoint import load_checkpoint, metadata_path, save_checkpoint, sha256sum
from qmrflow.errors import ModelError


@pytest.fixture
def checkpoint(tmp_path):
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.zeros(2)}
    path = tmp_path / "model.pt"
    digest = save_checkpoint(state, path, {"seed": 3, "training_subjects": ["a", "b"]})
    return path, state, digest


def test_round_trip_and_metadata(checkpoint):
    path, state, digest = checkpoint
    loaded = load_checkpoint(path)
    assert loaded.sha256 == digest == sha256sum(path)
    torch.testing.assert_close(loaded.state_dict["w"], state["w"])
    meta = json.loads(metadata_path(path).read_text())
    assert meta["seed"] == 3
    assert meta["training_subjects"] == ["a", "b"]
    assert meta["versions"]["torch"].startswith("2.")


def test_tampered_file_is_refused_before_loading(checkpoint):
    path, _, _ = checkpoint
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_checkpoint(path)


def test_expected_sha256_overrides_sidecar(checkpoint):
    path, _, digest = checkpoint
    metadata_path(path).unlink()
    with pytest.raises(ModelError, match="no sha256"):
        load_checkpoint(path)
    assert load_checkpoint(path, expected_sha256=digest).sha256 == digest
    with pytest.raises(ModelError, match="mismatch"):
        load_checkpoint(path, expected_sha256="0" * 64)


def test_pickled_code_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"w": Evil()}, path)
    with pytest.raises(ModelError, match="not loadable as plain weights"):
        load_checkpoint(path, expected_sha256=sha256sum(path))


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_same_weights_give_the_same_checksum(tmp_path):
    state = {"w": torch.ones(3)}
    first = save_checkpoint(state, tmp_path / "a.pt", {})
    second = save_checkpoint(state, tmp_path / "b" / "other_name.pt", {})
    assert first == second


def test_a_weight_may_not_take_a_program_name(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint({"__qmrflow_program__": torch.zeros(1)}, tmp_path / "m.pt", {})


def test_training_metadata_records_the_run():
    import pandas as pd

    from qmrflow.dl.checkpoint import training_metadata
    from qmrflow.dl.training import TrainResult

    history = pd.DataFrame({"epoch": [1, 2], "val_loss": [0.5, 0.4], "seconds": [1.0, 1.0]})
    result = TrainResult({}, history, history.iloc[1].to_dict(), 10, 2.5)
    meta = training_metadata(
        study="s",
        task="t",
        seed=0,
        provenance={"a": 1},
        training_subjects=["b", "a"],
        validation_subjects={"c"},
        result=result,
        device=torch.device("cpu"),
        architecture="net",
    )
    assert meta["training_subjects"] == ["a", "b"] and meta["validation_subjects"] == ["c"]
    assert meta["seed"] == 0 and meta["deterministic"] and len(meta["config_hash"]) == 64
    assert meta["best_epoch"] == 2 and meta["best_val_loss"] == 0.4 and meta["epochs_run"] == 2
    assert meta["architecture"] == "net" and meta["provenance"] == {"a": 1}
    json.dumps(meta)


def test_runnable_prefers_the_program_and_else_rebuilds_the_network(tmp_path):
    from qmrflow.dl.checkpoint import runnable
    from qmrflow.dl.inference import export_program

    network = torch.nn.Linear(3, 2).eval()
    x = torch.rand(4, 3)
    path = tmp_path / "m.pt"
    save_checkpoint(network.state_dict(), path, {}, program=export_program(network, x))
    loaded = load_checkpoint(path)
    built = []

    def build():
        built.append(True)
        return torch.nn.Linear(3, 2)

    run = runnable(loaded, torch.device("cpu"), build)
    assert not built  # the stored program runs
    torch.testing.assert_close(run(x), network(x))
    rebuilt = runnable(loaded, torch.device("cpu"), build, program=False)
    assert built and not rebuilt.training
    torch.testing.assert_close(rebuilt(x), network(x))
    with pytest.raises(ModelError, match="weights do not fit the recorded adapter"):
        runnable(
            loaded,
            torch.device("cpu"),
            lambda: torch.nn.Linear(5, 2),
            program=False,
            what="adapter",
        )
