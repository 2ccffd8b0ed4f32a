"""BIDS names: the builder orders entities, the parser inverts it, pairing is by subject."""

import json
from pathlib import Path

import pandas as pd
import pytest

from qmrflow.io import read_tsv
from qmrflow.io.bids import (
    BIDS_VERSION,
    bids_name,
    bids_path,
    by_subject,
    parse_entities,
    sidecar_path,
    subject_of,
    write_dataset_files,
    write_participants,
)


def test_builder_writes_entities_in_bids_order_whatever_the_argument_order():
    name = bids_name("MDME", desc="dl", acq="fast", sub="01")
    assert name == "sub-01_acq-fast_desc-dl_MDME.nii.gz"
    assert bids_name("roi", ".tsv", sub="d0001") == "sub-d0001_roi.tsv"
    assert bids_name("T1w", run=3, sub="x", ses=None) == "sub-x_run-3_T1w.nii.gz"


def test_slice_is_not_a_bids_entity_but_old_names_still_parse():
    with pytest.raises(ValueError, match="unknown BIDS entities"):
        bids_name("T1w", slice=3, sub="x")
    assert parse_entities("sub-x_slice-3_T1w.nii.gz").get("slice") == "3"


def test_path_has_subject_session_and_datatype_folders():
    path = bids_path("root", "T2map", sub="01", ses="a", acq="fast")
    assert path == "root/sub-01/ses-a/anat/sub-01_ses-a_acq-fast_T2map.nii.gz"
    assert bids_path("r", "rois", ".tsv", sub="01", datatype=None) == "r/sub-01/sub-01_rois.tsv"


def test_builder_accepts_snakemake_placeholders():
    path = bids_path("r", "T1map", sub="{subject}", acq="{acq}")
    assert path == "r/sub-{subject}/anat/sub-{subject}_acq-{acq}_T1map.nii.gz"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"acq": "fast"},  # no subject
        {"sub": "0_1"},  # not alphanumeric
        {"sub": "01", "colour": "red"},  # unknown entity
    ],
)
def test_builder_refuses_names_that_are_not_bids(kwargs):
    with pytest.raises(ValueError):
        bids_name("T1w", **kwargs)


def test_parser_inverts_the_builder():
    name = bids_name("mask", ".nii.gz", sub="s003", acq="routine", desc="brain")
    parsed = parse_entities(Path("/data") / name)
    assert parsed.entities == {"sub": "s003", "acq": "routine", "desc": "brain"}
    assert parsed.suffix == "mask"
    assert parsed.extension == ".nii.gz"
    assert parsed.get("run") is None


def test_parser_refuses_a_part_that_is_not_an_entity():
    with pytest.raises(ValueError, match="not a BIDS"):
        parse_entities("sub-01_extra_T1w.nii.gz")
    with pytest.raises(ValueError, match="twice"):
        parse_entities("sub-01_sub-02_T1w.nii.gz")


def test_subject_of_names_without_a_subject_is_none():
    assert subject_of("a/b/sub-d0001_slice-2_T1w.nii.gz") == "d0001"
    assert subject_of("participants.tsv") is None
    assert subject_of("not_bids_at_all.txt") is None


def test_sidecar_of_a_nifti_image():
    assert sidecar_path("d/sub-1_acq-x_MDME.nii.gz") == Path("d/sub-1_acq-x_MDME.json")
    assert sidecar_path("sub-1_T1w.nii") == Path("sub-1_T1w.json")
    with pytest.raises(ValueError):
        sidecar_path("model.pt")


def test_by_subject_pairs_files_by_name_not_by_position():
    files = ["x/sub-b_roi.tsv", "x/sub-a_roi.tsv"]
    assert by_subject(files, ["a", "b"]) == {"a": "x/sub-a_roi.tsv", "b": "x/sub-b_roi.tsv"}
    with pytest.raises(ValueError, match="missing \\['c'\\]"):
        by_subject(files, ["a", "b", "c"])
    with pytest.raises(ValueError, match="unexpected \\['b'\\]"):
        by_subject(files, ["a"])
    with pytest.raises(ValueError, match="two files"):
        by_subject([*files, "y/sub-a_roi.tsv"], ["a", "b"])


SCHEMA = {
    "properties": {
        "participant_id": {"type": "string", "description": "label"},
        "split": {"enum": ["train", "val", "test"], "description": "Split."},
        "age": {"type": "number", "description": "Age in years."},
    }
}


def test_participants_are_written_with_sub_prefix_and_described(tmp_path):
    table = pd.DataFrame(
        {"participant_id": ["01", "sub-02"], "split": ["train", "test"], "site": ["a", "b"]}
    )
    tsv, sidecar = write_participants(table, tmp_path, SCHEMA)
    written = pd.read_csv(tsv, sep="\t", dtype=str)
    assert written["participant_id"].tolist() == ["sub-01", "sub-02"]
    described = json.loads(sidecar.read_text())
    assert set(described) == {"participant_id", "split", "site"}  # the table's columns
    assert described["split"]["Levels"] == {"train": "train", "val": "val", "test": "test"}
    assert described["site"] == {"Description": "site"}
    assert read_tsv(tsv)["participant_id"].tolist() == ["01", "02"]  # read back bare


def test_dataset_files_describe_the_dataset_and_list_what_bids_lacks(tmp_path):
    written = write_dataset_files(
        tmp_path,
        name="x",
        dataset_type="derivative",
        generated_by="test",
        ignore=("/group", "*_roi.tsv"),
        source=tmp_path / "raw",
    )
    description = json.loads((tmp_path / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["BIDSVersion"] == BIDS_VERSION
    assert description["GeneratedBy"][0]["Name"] == "qmrflow"
    assert description["SourceDatasets"][0]["URL"].startswith("file://")
    assert (tmp_path / ".bidsignore").read_text() == "/group\n*_roi.tsv\n"
    assert len(written) == 2
    assert (
        len(write_dataset_files(tmp_path / "raw", name="y", dataset_type="raw", generated_by="t"))
        == 1
    )
    with pytest.raises(ValueError, match="raw or derivative"):
        write_dataset_files(tmp_path, name="z", dataset_type="study", generated_by="t")
