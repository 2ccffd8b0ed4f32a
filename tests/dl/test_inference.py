"""Batched inference and torch-only inference programs (qmrflow.dl.inference)."""

import logging
import subprocess
import sys

import numpy as np
import torch
from torch import nn

from qmrflow.dl.checkpoint import load_checkpoint, save_checkpoint
from qmrflow.dl.inference import (
    PROGRAM_KEY,
    export_program,
    is_program_key,
    load_program,
    predict_batches,
    predict_logits,
    program_header,
)


class Net(nn.Module):
    """A small fully convolutional network with batch norm and two outputs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        features = torch.relu(self.norm(self.conv(x)))
        return self.head(features).mean((1, 2, 3)), features.mean(1)


def test_predict_batches_concatenates_batches_and_picks_an_output():
    torch.manual_seed(0)
    net = Net().eval()
    x = np.random.default_rng(0).random((5, 2, 8, 6)).astype(np.float32)
    with torch.no_grad():
        logits, maps = net(torch.as_tensor(x))
    np.testing.assert_allclose(predict_logits(net, x, torch.device("cpu"), 2), logits, atol=1e-6)
    out = predict_batches(net, x, torch.device("cpu"), 3, output=1)
    np.testing.assert_allclose(out, maps, atol=1e-6)
    assert predict_logits(net, x[:0], torch.device("cpu")).shape == (0,)


def test_a_program_runs_any_batch_and_size_with_the_checkpoint_weights(tmp_path):
    torch.manual_seed(0)
    net = Net().eval()
    program = export_program(net, torch.randn(2, 2, 8, 8), dynamic_dims=(0, 2, 3))
    assert program_header(program)["outputs"] == 2
    path = tmp_path / "net.pt"
    save_checkpoint(net.state_dict(), path, {}, program=program)
    checkpoint = load_checkpoint(path)
    assert not any(is_program_key(k) for k in checkpoint.state_dict)
    run = load_program(checkpoint.state_dict | checkpoint.program, str(path))
    x = torch.randn(5, 2, 12, 10)
    with torch.no_grad():
        for ours, theirs in zip(run(x), net(x), strict=True):
            torch.testing.assert_close(ours, theirs)


class Halves(nn.Module):
    """Splits its channels with ``torch.split``: an operator returning a list of tensors."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)

    def forward(self, x):
        first, second = torch.split(self.conv(x), 2, dim=1)
        return first * second


def test_a_program_stores_an_operator_returning_a_list_of_tensors(tmp_path):
    torch.manual_seed(0)
    net = Halves().eval()
    program = export_program(net, torch.randn(2, 2, 8, 8), dynamic_dims=(0,))
    path = tmp_path / "halves.pt"
    save_checkpoint(net.state_dict(), path, {}, program=program)
    checkpoint = load_checkpoint(path)
    run = load_program(checkpoint.state_dict | checkpoint.program, str(path))
    x = torch.randn(3, 2, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(run(x), net(x))


def test_a_module_torch_cannot_export_gives_no_program(caplog):
    class Data(nn.Module):
        def forward(self, x):
            return torch.tensor(float(x.sum().item() > 0)) if x.sum() > 0 else x  # data-dependent

    with caplog.at_level(logging.WARNING):
        assert export_program(Data(), torch.randn(2, 1, 4, 4)) == {}
    assert "could not be exported" in caplog.text


def test_a_program_that_does_not_load_is_reported_not_run(caplog):
    net = Net().eval()
    program = export_program(net, torch.randn(2, 2, 8, 8))
    broken = program | {PROGRAM_KEY: torch.frombuffer(bytearray(b"{not json"), dtype=torch.uint8)}
    with caplog.at_level(logging.WARNING):
        assert load_program(net.state_dict() | broken, "net.pt") is None
    assert "net.pt: inference program" in caplog.text
    assert load_program(net.state_dict(), "plain.pt") is None  # no program: nothing to say


def test_loading_a_program_imports_neither_monai_nor_pickled_code(tmp_path):
    torch.manual_seed(0)
    net = Net().eval()
    path = tmp_path / "net.pt"
    save_checkpoint(
        net.state_dict(), path, {}, program=export_program(net, torch.randn(2, 2, 8, 8))
    )
    code = f"""
import sys, torch
from qmrflow.dl.checkpoint import load_checkpoint
from qmrflow.dl.inference import load_program
c = load_checkpoint({str(path)!r})
run = load_program(c.state_dict | c.program, "net")
run(torch.zeros(3, 2, 8, 8))
assert not [m for m in sys.modules if m.split(".")[0] == "monai"]
"""
    subprocess.run([sys.executable, "-c", code], check=True)
