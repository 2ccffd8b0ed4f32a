"""Missing inputs of a user's dataset: one table at start-up, then stop or leave them out."""

import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from qmrflow.config import load_schema, validate_config
from qmrflow.errors import ConfigError, MissingInputsError
from qmrflow.workflow import StudyLayout, StudySpec, study_layouts
from qmrflow.workflow.missing import (
    SUBJECT,
    FileFinder,
    MissingInput,
    RequiredInput,
    check_missing_inputs,
    find_missing,
    format_missing,
    missing_table,
)

REPO = Path(__file__).resolve().parents[2]

SCHEMA = """
type: object
required: [participant_id, split]
properties:
  participant_id: {type: string}
  split: {enum: [train, val, test]}
"""


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


# ------------------------------------------------------------------ files and forms
def test_files_patterns_and_folders_are_found(tmp_path):
    _touch(tmp_path / "sub-01/anat/sub-01_inv-2_IRT1.nii.gz")
    (tmp_path / "sourcedata/sub-01/series").mkdir(parents=True)
    finder = FileFinder()
    assert finder.exists(str(tmp_path / "sub-01/anat/sub-01_inv-2_IRT1.nii.gz"))
    assert finder.exists(str(tmp_path / "sub-01/anat/sub-01_inv-*_IRT1.nii.gz"))
    assert not finder.exists(str(tmp_path / "sub-01/anat/sub-01_inv-*_IRT1.json"))
    assert not finder.exists(str(tmp_path / "sub-02/anat/sub-02_inv-*_IRT1.nii.gz"))
    assert finder.exists(f"{tmp_path}/sourcedata/sub-01/")
    assert not finder.exists(f"{tmp_path}/sourcedata/sub-02/")
    assert not finder.exists(str(tmp_path / "sourcedata"))  # a folder is not a file


@pytest.mark.parametrize(
    ("pattern", "found"),
    [
        ("ab*", True),
        ("*.nii", True),
        ("a*b*.nii", True),
        ("ab*b.nii", False),  # prefix and suffix may not overlap
        ("a*x*.nii", False),
        ("b*", False),
        ("ab.nii*", True),  # a star may stand for nothing
    ],
)
def test_a_star_stands_for_any_characters(tmp_path, pattern, found):
    _touch(tmp_path / "ab.nii")
    assert FileFinder().exists(str(tmp_path / pattern)) is found


def test_an_input_is_there_when_one_of_its_forms_is_complete(tmp_path):
    kspace, mag, phase = (str(tmp_path / name) for name in ("k.h5", "mag.nii", "phase.nii"))
    required = RequiredInput.one_of("acq-gre", [kspace], [mag, phase])
    assert required.absent(FileFinder(), "01") == ((kspace,), (mag, phase))
    _touch(Path(mag))
    assert required.absent(FileFinder(), "01") == ((kspace,), (phase,))
    _touch(Path(phase))
    assert required.absent(FileFinder(), "01") == ()
    _touch(Path(kspace))
    assert RequiredInput.files("k", kspace).absent(FileFinder(), "01") == ()


def test_the_placeholder_is_each_subjects_label(tmp_path):
    _touch(tmp_path / "sub-01/sub-01_T1w.nii.gz")
    required = RequiredInput.files("T1w", tmp_path / f"sub-{SUBJECT}/sub-{SUBJECT}_T1w.nii.gz")
    assert required.absent(FileFinder(), "01") == ()
    assert required.absent(FileFinder(), "02") == ((str(tmp_path / "sub-02/sub-02_T1w.nii.gz"),),)
    with pytest.raises(ValueError, match="every form"):
        RequiredInput.one_of("nothing", [])


def test_the_table_names_study_subject_input_and_file():
    rows = [
        MissingInput("toy", "01", "image", "/d/sub-01/anat/sub-01_T1w.nii.gz"),
        MissingInput("toy", "002", "k-space acq-gre", "/d/a.h5 or /d/b.nii + /d/c.nii"),
    ]
    table = missing_table(rows)
    assert list(table.columns) == ["study", "subject", "input", "expected"]
    assert list(table["subject"]) == ["sub-01", "sub-002"]
    lines = format_missing(rows).splitlines()
    assert lines[0].split() == ["study", "subject", "input", "expected"]
    assert lines[2] == "toy    sub-002  k-space acq-gre  /d/a.h5 or /d/b.nii + /d/c.nii"
    assert len({line.index(line.split()[-1]) for line in lines[:2]}) == 1  # aligned


# ------------------------------------------------------------------ a toy study
def _required(layout: StudyLayout, split: str) -> list[RequiredInput]:
    """A test subject's image; a training subject's image and labels (when a model is
    trained)."""
    training = split != "test"
    if training and not layout.models_to_train:
        return []
    required = [RequiredInput.files("image", layout.dataset_file("T1w", sub=SUBJECT))]
    if training:
        required.append(
            RequiredInput.files("labels", layout.dataset_derivative("labels", "dseg", sub=SUBJECT))
        )
    return required


def _check(table: pd.DataFrame, training: bool, file: Path) -> None:
    needed = ("train", "val", "test") if training else ("test",)
    missing = [s for s in needed if not (table["split"] == s).any()]
    if missing:
        raise ConfigError(f"no participant in split(s) {missing}", file=file)


def _spec(name: str = "toy") -> StudySpec:
    return StudySpec(
        name=name,
        demo_participants=lambda demo: pd.DataFrame({"participant_id": ["p0"], "split": ["test"]}),
        models=lambda study: ["net"],
        tables={"stats": "statistics.tsv"},
        figures={},
        check_participants=_check,
        required_inputs=_required,
    )


def _dataset(root: Path, splits: dict[str, str], complete: set[str]) -> Path:
    """A user dataset: participants and, for the ``complete`` subjects, image and labels."""
    root.mkdir(parents=True)
    rows = "".join(f"sub-{s}\t{split}\n" for s, split in splits.items())
    (root / "participants.tsv").write_text("participant_id\tsplit\n" + rows)
    for subject in complete:
        _touch(root / f"sub-{subject}/anat/sub-{subject}_T1w.nii.gz")
        _touch(root / f"derivatives/labels/sub-{subject}/anat/sub-{subject}_dseg.nii.gz")
    return root


def _layouts(tmp_path: Path, datasets: dict[str, str], trained: bool = False) -> dict:
    config = {"results": str(tmp_path / "results"), "seed": 1}
    for name, dataset in datasets.items():
        (tmp_path / f"{name}.participants.schema.yaml").write_text(SCHEMA)
        given = {}
        if trained:
            model = _touch(tmp_path / f"{name}_model.pt")
            _touch(model.with_suffix(".json"))
            given = {"net": {"file": str(model), "sha256": "0" * 64}}
        config[name] = {"dataset": dataset, "demo": {}, "model": {"trained": given}}
    return {name: StudyLayout(_spec(name), config, schemas=tmp_path) for name in datasets}


SPLITS = {"01": "train", "02": "val", "03": "train", "04": "test", "05": "test"}


def test_every_missing_input_of_every_user_study_is_one_row(tmp_path):
    one = _dataset(tmp_path / "one", SPLITS, complete={"01", "02", "04"})
    two = _dataset(
        tmp_path / "two", {"a": "train", "b": "val", "c": "test"}, complete={"a", "b", "c"}
    )
    (two / "derivatives/labels/sub-b/anat/sub-b_dseg.nii.gz").unlink()
    layouts = _layouts(tmp_path, {"one": str(one), "two": str(two), "demo": "demo"})
    rows = find_missing(layouts.values())
    assert [(m.study, m.subject, m.kind) for m in rows] == [
        ("one", "03", "image"),
        ("one", "03", "labels"),
        ("one", "05", "image"),
        ("two", "b", "labels"),
    ]
    assert rows[0].expected == str(one / "sub-03/anat/sub-03_T1w.nii.gz")


def test_given_models_need_no_training_subjects(tmp_path):
    one = _dataset(tmp_path / "one", SPLITS, complete={"04", "05"})
    layouts = _layouts(tmp_path, {"one": str(one)}, trained=True)
    assert find_missing(layouts.values()) == []


def test_stop_raises_with_the_table_before_anything_is_left_out(tmp_path):
    one = _dataset(tmp_path / "one", SPLITS, complete={"01", "02", "04"})
    layouts = _layouts(tmp_path, {"one": str(one)})
    with pytest.raises(MissingInputsError) as error:
        check_missing_inputs(layouts, "stop")
    message = str(error.value)
    assert "2 subject(s)" in message and "missing_inputs: skip" in message
    expected = re.escape(f"{one}/sub-05/anat/sub-05_T1w.nii.gz")
    assert re.search(rf"\none +sub-05 +image +{expected}", message)
    assert layouts["one"].subjects() == ["01", "02", "03", "04", "05"]


def test_skip_warns_with_the_table_and_leaves_the_subjects_out(tmp_path, caplog):
    one = _dataset(tmp_path / "one", SPLITS, complete={"01", "02", "04"})
    layouts = _layouts(tmp_path, {"one": str(one)})
    with caplog.at_level(logging.WARNING, logger="qmrflow.workflow.missing"):
        missing = check_missing_inputs(layouts, "skip")
    assert {m.subject for m in missing} == {"03", "05"}
    assert "left out" in caplog.text and "sub-03" in caplog.text and "sub-05" in caplog.text
    layout = layouts["one"]
    assert layout.subjects("train", "val") == ["01", "02"]  # out of training
    assert layout.subjects("test") == ["04"]
    assert layout.left_out == ("03", "05")
    assert list(layout.participants["participant_id"]) == ["01", "02", "04"]
    with pytest.raises(KeyError, match="sub-03"):
        layout.row("03")


def test_skip_that_leaves_a_split_empty_is_a_config_error(tmp_path):
    one = _dataset(tmp_path / "one", SPLITS, complete={"01", "02", "03"})
    layouts = _layouts(tmp_path, {"one": str(one)})
    with pytest.raises(ConfigError, match=r"no participant in split\(s\) \['test'\].*left out"):
        check_missing_inputs(layouts, "skip")


def test_a_complete_dataset_passes_silently(tmp_path, caplog):
    one = _dataset(tmp_path / "one", SPLITS, complete=set(SPLITS))
    layouts = _layouts(tmp_path, {"one": str(one)})
    with caplog.at_level(logging.WARNING):
        assert check_missing_inputs(layouts, "stop") == []
    assert caplog.text == ""
    assert layouts["one"].left_out == ()


@pytest.mark.parametrize(
    ("main_process", "argv"),
    [(False, []), (True, ["snakemake", "--unlock"]), (True, ["snakemake", "--target-jobs=x"])],
)
def test_a_jobs_own_snakemake_neither_stops_nor_warns_but_plans_alike(
    tmp_path, caplog, main_process, argv
):
    one = _dataset(tmp_path / "one", SPLITS, complete={"01", "02", "04"})
    layouts = _layouts(tmp_path, {"one": str(one)})
    assert check_missing_inputs(layouts, "stop", main_process=main_process, argv=argv) == []
    assert layouts["one"].left_out == ()
    with caplog.at_level(logging.WARNING):
        check_missing_inputs(layouts, "skip", main_process=main_process, argv=argv)
    assert caplog.text == ""
    assert layouts["one"].left_out == ("03", "05")  # the same plan as the main run's


def test_an_unknown_policy_or_subject_is_refused(tmp_path):
    one = _dataset(tmp_path / "one", SPLITS, complete=set(SPLITS))
    layouts = _layouts(tmp_path, {"one": str(one)})
    with pytest.raises(ValueError, match="missing_inputs"):
        check_missing_inputs(layouts, "ignore")
    with pytest.raises(KeyError, match="sub-zz"):
        layouts["one"].leave_out(["zz"])


# ------------------------------------------------------------------ the studies' declarations
def _study(tmp_path: Path, name: str, **section) -> StudyLayout:
    config = {"studies": [name], name: {"dataset": str(tmp_path / "bids"), **section}}
    validate_config(config, load_schema(REPO / "config/schemas/config.schema.yaml"))
    return study_layouts(config, schemas=REPO / "config/schemas")[name]


def test_qsm_takes_k_space_or_magnitude_and_phase_images(tmp_path):
    root = tmp_path / "bids"
    root.mkdir()
    (root / "participants.tsv").write_text("participant_id\tsplit\nsub-01\ttest\n")
    labels = root / "derivatives/labels/sub-01/anat"
    for path in (
        root / "sub-01/kspace/sub-01_acq-gre_kspace.h5",
        root / "sub-01/anat/sub-01_acq-epi2avg_echo-1_part-mag_MEGRE.nii.gz",
        root / "sub-01/anat/sub-01_acq-epi2avg_echo-1_part-phase_MEGRE.nii.gz",
        root / "sub-01/anat/sub-01_acq-epi1avg_echo-1_part-mag_MEGRE.nii.gz",
        root / "sub-01/anat/sub-01_FLAIR.nii.gz",
        labels / "sub-01_desc-lesions_dseg.nii.gz",
    ):
        _touch(path)
    model = _touch(tmp_path / "model.pt")
    _touch(model.with_suffix(".json"))
    trained = {"reconstruction": {"file": str(model), "sha256": "0" * 64}}
    layout = _study(tmp_path, "qsm", model={"trained": trained})
    rows = {m.kind: m.expected for m in find_missing([layout])}
    assert set(rows) == {"acq-epi1avg", "tissue labels"}
    assert rows["acq-epi1avg"] == (
        f"{root}/sub-01/kspace/sub-01_acq-epi1avg_kspace.h5 or "
        f"{root}/sub-01/anat/sub-01_acq-epi1avg_echo-*_part-phase_MEGRE.nii*"
    )
    assert rows["tissue labels"] == str(labels / "sub-01_desc-aseg_dseg.nii.gz")


def test_dystrophy_takes_a_stack_slices_or_a_dicom_series(tmp_path):
    root = tmp_path / "bids"
    root.mkdir()
    rows = "".join(f"sub-{s}\tDMD\ttest\n" for s in ("01", "02", "03", "04"))
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\tsplit\n" + rows)
    _touch(root / "sub-01/anat/sub-01_T1w.nii.gz")
    _touch(root / "sub-02/anat/sub-02_slice-1_T1w.nii")
    _touch(root / "sourcedata/sub-03/series1/IM0001.dcm")
    model = _touch(tmp_path / "model.pt")
    _touch(model.with_suffix(".json"))
    trained = {"resnet10-lite": {"file": str(model), "sha256": "0" * 64}}
    layout = _study(
        tmp_path,
        "dystrophy",
        model={"architectures": ["resnet10-lite"], "trained": trained},
    )
    [row] = find_missing([layout])
    assert (row.subject, row.kind) == ("04", "T1w images")
    assert row.expected.startswith(f"{root}/sub-04/anat/sub-04_T1w.nii* or ")
    assert row.expected.endswith(f"or {root}/sub-04/dicom/")
