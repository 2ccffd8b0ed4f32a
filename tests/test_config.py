"""Config and participants-table validation (qmrflow.config)."""

from pathlib import Path

import pandas as pd
import pytest

from qmrflow.config import (
    check_splits_present,
    check_training_splits,
    load_schema,
    read_participants,
    validate_config,
)
from qmrflow.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIG_SCHEMA = load_schema(ROOT / "config/schemas/config.schema.yaml")
PARTICIPANTS_SCHEMA = load_schema(ROOT / "config/schemas/dystrophy.participants.schema.yaml")

GOOD = "participant_id\tdiagnosis\tsplit\tage\nsub-001\tDMD\ttrain\t9\n002\tLGMD2A\ttest\t31\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "participants.tsv"
    path.write_text(text)
    return path


def test_defaults_fill_an_empty_config():
    config = validate_config({}, CONFIG_SCHEMA)
    assert config["studies"] == ["dystrophy", "synthmri", "perfusion", "breathing", "qsm"]
    assert config["breathing"]["reconstruction"]["sense"]["iterations"] == 6
    assert config["qsm"]["lesions"]["acquisition"] == "epi1avg"
    assert config["perfusion"]["demo"]["n_subjects"] == 12
    assert config["dystrophy"]["dataset"] == "demo"
    assert config["synthmri"]["dataset"] == "demo"
    assert config["synthmri"]["model"]["scale"] == [1, 2]
    assert config["synthmri"]["demo"]["fast_phase_fraction"] == 0.5
    assert config["dystrophy"]["model"]["architectures"][0] == "resnet10-lite"
    assert config["dystrophy"]["demo"]["n_cases"] >= 150


def test_shipped_config_is_valid_and_documented():
    import yaml

    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    validate_config(config, CONFIG_SCHEMA)
    readme = (ROOT / "config/README.md").read_text()

    def keys(schema, prefix=""):
        for name, spec in schema.get("properties", {}).items():
            spec = CONFIG_SCHEMA["$defs"][spec["$ref"].split("/")[-1]] if "$ref" in spec else spec
            yield prefix + name
            yield from keys(spec, prefix + name + ".")

    missing = [k for k in keys(CONFIG_SCHEMA) if f"`{k}`" not in readme]
    assert not missing, f"config/README.md does not document {missing}"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"dystrophy": {"modle": {}}}, "dystrophy: Additional properties are not allowed ('modle'"),
        ({"dystrophy": {"model": {"epochs": 0}}}, "dystrophy.model.epochs: 0 is less than"),
        ({"dystrophy": {"model": {"architectures": ["vgg"]}}}, "'vgg' is not one of"),
        ({"studies": ["nosuch"]}, "studies.0: 'nosuch' is not one of"),
        ({"dystrophy": {"threshold": 1.5}}, "dystrophy.threshold"),
        ({"synthmri": {"model": {"channels": 2}}}, "synthmri.model.channels: 2 is less than"),
        ({"synthmri": {"demo": {"fast_phase_fraction": 0.3}}}, "0.3 is not one of"),
    ],
)
def test_bad_config_names_file_and_key(config, expected):
    with pytest.raises(ConfigError) as info:
        validate_config(config, CONFIG_SCHEMA, files=["my.yaml"])
    message = str(info.value)
    assert message.startswith("my.yaml: invalid configuration")
    assert expected in message


def test_participants_strip_sub_prefix_and_keep_types(tmp_path):
    table = read_participants(write(tmp_path, GOOD), PARTICIPANTS_SCHEMA)
    assert list(table["participant_id"]) == ["001", "002"]
    assert table["age"].tolist() == [9, 31]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("participant_id\tsplit\n001\ttrain\n", "missing required column(s) diagnosis"),
        (GOOD + "sub-001\tBMD\tval\t12\n", "duplicate id '001' in rows 1, 3"),
        (GOOD + "../x\tBMD\tval\t12\n", "row 3 (line 4), column participant_id: '../x'"),
        (GOOD + "a_b\tBMD\tval\t12\n", "column participant_id: 'a_b'"),
        (GOOD + "003\tBMD\ttraining\t12\n", "row 3 (line 4), column split: 'training' is not one"),
        (GOOD + "003\tflu\ttest\t12\n", "column diagnosis: 'flu' is not one of"),
        (GOOD + "003\t\ttest\t12\n", "column diagnosis"),
        (GOOD + "003\tBMD\ttest\told\n", "column age: 'old'"),
        ("participant_id\tdiagnosis\tsplit\n", "has no rows"),
    ],
)
def test_bad_participants_name_file_row_and_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_participants(path, PARTICIPANTS_SCHEMA)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_participants_file(tmp_path):
    with pytest.raises(ConfigError, match="participants table not found"):
        read_participants(tmp_path / "participants.tsv", PARTICIPANTS_SCHEMA)


def test_training_splits_need_both_classes(tmp_path):
    path = write(tmp_path, GOOD + "003\tBMD\tval\t12\n")
    table = read_participants(path, PARTICIPANTS_SCHEMA)
    with pytest.raises(ConfigError) as info:
        check_training_splits(table, positive={"DMD", "BMD"}, file=path)
    message = str(info.value)
    assert str(path) in message and "column split" in message
    assert "split 'train' has 1 positive" in message and "split 'val' has 1 positive" in message
    table.loc[len(table)] = {"participant_id": "004", "diagnosis": "myositis", "split": "train"}
    table.loc[len(table)] = {"participant_id": "005", "diagnosis": "FSHMD", "split": "val"}
    check_training_splits(table, positive={"DMD", "BMD"}, file=path)


def test_every_split_must_be_present(tmp_path):
    table = pd.DataFrame({"participant_id": ["a", "b"], "split": ["train", "test"]})
    check_splits_present(table, splits=("train", "test"), file="p.tsv")
    with pytest.raises(
        ConfigError, match=r"p\.tsv: column split: no participant in split\(s\) \['val'\]"
    ):
        check_splits_present(table, splits=("train", "val", "test"), file="p.tsv")
