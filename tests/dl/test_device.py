"""Device selection: the GPU a job was given, else the CPU."""

from __future__ import annotations

import logging

import torch

from qmrflow.dl.device import select_device


def test_cpu_without_a_visible_gpu(monkeypatch, caplog):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    previous = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger="qmrflow.dl.device"):
            device = select_device(threads=1)
        assert device == torch.device("cpu")
        assert torch.get_num_threads() == 1
        assert "no GPU visible" in caplog.text
    finally:
        torch.set_num_threads(previous)


def test_a_gpu_torch_cannot_use_falls_back_to_the_cpu_and_says_so(monkeypatch, caplog):
    """SLURM gave the job a GPU (CUDA_VISIBLE_DEVICES) but torch has no CUDA: run on the CPU."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="qmrflow.dl.device"):
        device = select_device()
    assert device == torch.device("cpu")
    assert "CUDA_VISIBLE_DEVICES=1" in caplog.text


def test_the_first_visible_gpu_is_the_jobs_own(monkeypatch, caplog):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Fake A100")
    with caplog.at_level(logging.INFO, logger="qmrflow.dl.device"):
        device = select_device()
    assert device == torch.device("cuda:0")
    assert "Fake A100" in caplog.text and "CUDA_VISIBLE_DEVICES=3" in caplog.text
