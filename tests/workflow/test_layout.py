"""The study layout: folders, participants, splits, models and seeds, without Snakemake."""

import json

import pandas as pd
import pytest

from qmrflow.errors import ConfigError
from qmrflow.workflow import StudyLayout, StudySpec, available_studies, study_spec

SCHEMA = """
type: object
required: [participant_id, split]
properties:
  participant_id: {type: string}
  split: {enum: [train, val, test]}
"""


def _demo(demo):
    n = demo["n"]
    return pd.DataFrame(
        {
            "participant_id": [f"p{i}" for i in range(n)],
            "split": ["train", "val", "test"] * (n // 3),
        }
    )


def _spec(checks=None):
    def check(table, training, file):
        if checks is not None:
            checks.append((len(table), training, file.name))

    return StudySpec(
        name="toy",
        demo_participants=_demo,
        models=lambda study: study["model"]["names"],
        tables={"stats": "statistics.tsv"},
        figures={"curve": "figures/curve.png"},
        training_sections=("fit",),
        untrained_model_keys=("names", "trained"),
        check_participants=check,
    )


def _config(tmp_path, **study):
    section = {
        "dataset": "demo",
        "demo": {"n": 6},
        "fit": {"iterations": 3},
        "model": {"names": ["a", "b"], "seed": None, "trained": {}},
        **study,
    }
    return {"results": str(tmp_path / "results"), "seed": 7, "toy": section}


def _layout(tmp_path, spec=None, **study):
    return StudyLayout(spec or _spec(), _config(tmp_path, **study), schemas=tmp_path)


def test_demo_folders_targets_and_splits(tmp_path):
    layout = _layout(tmp_path)
    results = str(tmp_path / "results")
    assert layout.root == f"{results}/demo/toy"
    assert layout.group == f"{results}/toy/group"
    assert layout.models_dir == f"{results}/models/toy"
    assert layout.targets() == [
        f"{results}/toy/group/statistics.tsv",
        f"{results}/toy/group/figures/curve.png",
        f"{results}/toy/group/methods.md",
        f"{results}/toy/group/methods.html",
        f"{results}/toy/dataset_description.json",
        *layout.demo_dataset_files().values(),
    ]
    assert f"{results}/demo/toy/participants.tsv" in layout.targets()
    assert layout.subjects() == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert layout.subjects("test") == ["p2", "p5"]
    assert layout.subjects("train", "val") == ["p0", "p1", "p3", "p4"]
    assert layout.row("p4")["split"] == "val"
    with pytest.raises(KeyError, match="sub-zz"):
        layout.row("zz")


def test_bids_paths_of_the_dataset_and_the_derivatives(tmp_path):
    layout = _layout(tmp_path)
    assert layout.dataset_file("T1w", sub="p0").endswith("demo/toy/sub-p0/anat/sub-p0_T1w.nii.gz")
    assert layout.derivative("rois", ".tsv", sub="p0", datatype=None).endswith(
        "results/toy/sub-p0/sub-p0_rois.tsv"
    )
    assert layout.dataset_derivative("truth", "T1map", sub="p0").endswith(
        "demo/toy/derivatives/truth/sub-p0/anat/sub-p0_T1map.nii.gz"
    )


def test_a_users_missing_files_are_left_to_the_subjects_job(tmp_path):
    files = {"image": str(tmp_path / "a.nii.gz"), "sidecar": str(tmp_path / "a.json")}
    assert _layout(tmp_path).on_disk(files) == files  # the demo's simulation writes them
    (tmp_path / "a.json").write_text("{}")
    user = _layout(tmp_path, dataset=str(tmp_path))
    assert user.on_disk(files) == {"sidecar": files["sidecar"]}


def test_demo_dataset_files_follow_the_spec(tmp_path):
    spec = StudySpec(
        **{
            **_spec().__dict__,
            "bids_ignore": {"raw": ("/ratings.tsv",), "labels": ("x",)},
            "demo_derivatives": ("truth", "labels"),
        }
    )
    root = f"{tmp_path}/results/demo/toy"
    assert _layout(tmp_path, spec).demo_dataset_files() == {
        "participants": f"{root}/participants.tsv",
        "participants_json": f"{root}/participants.json",
        "description": f"{root}/dataset_description.json",
        "bidsignore": f"{root}/.bidsignore",
        "truth_description": f"{root}/derivatives/truth/dataset_description.json",
        "labels_description": f"{root}/derivatives/labels/dataset_description.json",
        "labels_bidsignore": f"{root}/derivatives/labels/.bidsignore",
    }


@pytest.mark.parametrize(("configured", "expected"), [(None, 7), (0, 0), (42, 42)])
def test_model_seed_honours_zero_and_falls_back_to_the_master_seed(tmp_path, configured, expected):
    layout = _layout(tmp_path, model={"names": ["a"], "seed": configured, "trained": {}})
    assert layout.seed == expected


def test_training_provenance_leaves_out_what_does_not_change_a_model(tmp_path):
    layout = _layout(tmp_path)
    assert layout.training_provenance == {
        "dataset": "demo",
        "demo": {"n": 6},
        "fit": {"iterations": 3},
        "model": {"seed": None},
    }


def _finished_model(tmp_path, name="model"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"weights")
    (folder / "model.json").write_text(json.dumps({"sha256": "0" * 64}))
    return str(folder / "model.pt")


def test_a_model_given_in_the_config_is_applied_not_trained(tmp_path):
    file = _finished_model(tmp_path)
    trained = {"b": {"file": file, "sha256": "1" * 64}}
    layout = _layout(tmp_path, model={"names": ["a", "b"], "seed": None, "trained": trained})
    assert layout.models_to_train == ["a"]
    assert layout.model_file("b") == file
    assert layout.model_sha256("b") == "1" * 64
    assert layout.model_metadata("b").endswith("model/model.json")
    assert layout.model_file("a") == layout.trained_model_path("a")
    assert layout.model_sha256("a") is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: {"c": {"file": "x.pt", "sha256": "1" * 64}}, "not models of this study"),
        (lambda tmp: {"a": {"file": str(tmp / "no.pt"), "sha256": "1" * 64}}, "not found"),
    ],
)
def test_a_bad_model_in_the_config_is_a_config_error(tmp_path, make, message):
    with pytest.raises(ConfigError, match=message):
        _layout(tmp_path, model={"names": ["a"], "seed": None, "trained": make(tmp_path)})


def test_a_model_without_its_metadata_is_a_config_error(tmp_path):
    file = _finished_model(tmp_path)
    (tmp_path / "model" / "model.json").unlink()
    trained = {"a": {"file": file, "sha256": "1" * 64}}
    with pytest.raises(ConfigError, match="no qmrflow metadata"):
        _layout(tmp_path, model={"names": ["a"], "seed": None, "trained": trained})


def test_a_users_participants_table_is_validated_and_checked(tmp_path):
    dataset = tmp_path / "bids"
    dataset.mkdir()
    (dataset / "participants.tsv").write_text(
        "participant_id\tsplit\nsub-01\ttrain\nsub-02\tval\nsub-03\ttest\n"
    )
    (tmp_path / "toy.participants.schema.yaml").write_text(SCHEMA)
    checks = []
    layout = _layout(tmp_path, spec=_spec(checks), dataset=str(dataset) + "/")
    assert layout.root == str(dataset)
    assert layout.subjects("test") == ["03"]
    assert checks == [(3, True, "participants.tsv")]

    (dataset / "participants.tsv").write_text("participant_id\tsplit\nsub-01\tholdout\n")
    with pytest.raises(ConfigError, match="row 1"):
        _ = _layout(tmp_path, dataset=str(dataset)).participants


def test_the_registry_finds_both_studies():
    assert {"dystrophy", "synthmri"} <= set(available_studies())
    assert study_spec("synthmri").name == "synthmri"
    with pytest.raises(KeyError, match="no study"):
        study_spec("astrology")
