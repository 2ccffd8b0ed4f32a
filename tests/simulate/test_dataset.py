"""The demo dataset's dataset-level files (qmrflow.simulate.dataset)."""

import json

import pandas as pd

from qmrflow.simulate.dataset import dataset_level_files, write_demo_dataset

SCHEMA = {"properties": {"participant_id": {}, "split": {"enum": ["train", "test"]}}}


def test_the_demo_dataset_files_are_written_where_the_layout_expects_them(tmp_path):
    ignore = {"raw": ("/ratings.tsv",), "truth": ("*_fatfraction.tsv",)}
    table = pd.DataFrame({"participant_id": ["a1", "a2"], "split": ["train", "test"]})
    written = write_demo_dataset(
        tmp_path,
        study="toy",
        participants=table,
        schema=SCHEMA,
        pipelines=("truth",),
        ignore=ignore,
    )
    expected = dataset_level_files(tmp_path, pipelines=("truth",), ignore=ignore)
    assert sorted(map(str, written)) == sorted(expected.values())
    raw = json.loads((tmp_path / "dataset_description.json").read_text())
    truth = json.loads((tmp_path / "derivatives/truth/dataset_description.json").read_text())
    assert raw["DatasetType"] == "raw" and truth["DatasetType"] == "derivative"
    assert truth["SourceDatasets"][0]["URL"] == f"file://{tmp_path.resolve()}"
    assert (tmp_path / "derivatives/truth/.bidsignore").read_text() == "*_fatfraction.tsv\n"
    assert "sub-a1" in (tmp_path / "participants.tsv").read_text()
