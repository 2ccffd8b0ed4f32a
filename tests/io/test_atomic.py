"""Tests of qmrflow.io.atomic."""

from __future__ import annotations

import os
import stat

import pytest

from qmrflow.io import atomic_output


def test_written_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "sub" / "out.tsv") as tmp:
            tmp.write_text("a\n")
    finally:
        os.umask(umask)
    target = tmp_path / "sub" / "out.tsv"
    assert target.read_text() == "a\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's owner-only 0600


def test_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("job failed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
