"""The shared methods-text machinery (qmrflow.report.methods): formatting, citations, models,
versions, seeds, rendering, the builder lookup and the workflow job, on synthetic inputs."""

from __future__ import annotations

import json
import sys
import types
from importlib.metadata import version

import pytest

from qmrflow.provenance import config_hash
from qmrflow.report.methods import (
    MethodsContext,
    ModelRecord,
    Section,
    StudyMethods,
    compose_methods,
    dims,
    listing,
    load_models,
    number,
    plural,
    study_builder,
    to_html,
    to_markdown,
    write_methods,
)
from qmrflow.report.references import PACKAGE_REFERENCES, SNAKEMAKE, Reference
from qmrflow.workflow import available_studies

from .methods_cases import MASTER_SEED, model_metadata, participants, study_context

PAPER = Reference("Doe et al. 2020", "Doe J, et al. A study. J Test. 2020;1:1-2.", doi="10.1/x")
METHOD = Reference("Roe 1999", "Roe R. A <method> & more. J Test. 1999;2:3-4.", url="https://e.org")


def _context(**kwargs) -> MethodsContext:
    table, splits = participants((4, 2, 3), group=["a"] * 6 + ["b", "b", "a"])
    defaults = {
        "study": "fake",
        "config": {"dataset": "demo", "demo": {"seed": 99}, "model": {"seed": None}},
        "participants": table,
        "splits": splits,
        "models": {
            "net": ModelRecord("net", model_metadata("net", {"epochs": 3}), "m/net/model.json")
        },
        "training_seed": 4321,
        "master_seed": MASTER_SEED,
    }
    return MethodsContext(**(defaults | kwargs))


def _methods(context: MethodsContext) -> StudyMethods:
    return StudyMethods(
        title="a fake study",
        paper=PAPER,
        sections=(
            Section(
                "Study",
                (
                    f"We ran it {context.cite(PAPER, METHOD)} with 5 * 3 < 20 and a_b.",
                    f"{context.split_sentence()} Rows: {len(context.rows('train'))} in training.",
                ),
            ),
        ),
        packages=("torch", "no-such-package-xyz"),
    )


def test_numbers_lists_and_shapes_read_as_text():
    assert number(0.95 * 100) == "95"
    assert number(1e-5) == "1e-05"
    assert number(0.001) == "0.001"
    assert number(True) == "yes" and number(None) == "none"
    assert number([0.85]) == "0.85"
    assert number([3, 5]) == "3 and 5"
    assert listing(["a", "b", "c"]) == "a, b and c"
    assert listing([]) == "none"
    assert listing(["x", "y"], "or") == "x or y"
    assert dims([96, 112]) == "96 x 112"
    assert plural(1, "subject") == "1 subject" and plural(2, "subject") == "2 subjects"


def test_a_reference_is_formatted_with_its_doi_or_url():
    assert PAPER.formatted().endswith("doi:10.1/x") and PAPER.link == "https://doi.org/10.1/x"
    assert METHOD.formatted().endswith("https://e.org") and METHOD.link == "https://e.org"


def test_citations_are_recorded_once_and_sorted_and_labels_must_be_unique():
    context = _context()
    assert context.cite(PAPER, METHOD) == "(Doe et al. 2020; Roe 1999)"
    assert context.cite_names(METHOD) == "Roe 1999"
    assert [ref.label for ref in context.references] == ["Doe et al. 2020", "Roe 1999"]
    with pytest.raises(ValueError, match="two references labelled"):
        context.cite(Reference("Roe 1999", "another paper"))


def test_the_split_sentence_counts_the_subjects_used_and_those_left_out():
    context = _context(left_out=("x1", "x2"))
    sentence = context.split_sentence()
    assert "9 subjects" in sentence
    assert "4 for training, 2 for model selection (validation) and 3 for evaluation" in sentence
    assert "sub-x1 and sub-x2" in sentence and "2 subjects" in sentence
    assert context.breakdown("group", "test") == "2 b and 1 a"
    assert context.count("train", "val") == 6


def test_the_dataset_sentence_names_the_demo_seed_or_the_users_dataset():
    assert "simulation seed 99" in _context().dataset_sentence()
    user = _context(config={"dataset": "/data/bids", "model": {}})
    assert "/data/bids" in user.dataset_sentence() and "simulated" not in user.dataset_sentence()


def test_models_are_loaded_by_name_and_a_given_model_says_so(tmp_path):
    paths = []
    for name in ("a", "b"):
        path = tmp_path / name / "model.json"
        path.parent.mkdir()
        path.write_text(json.dumps(model_metadata(name)))
        paths.append(path)
    models = load_models(["a", "b"], paths, given=["b"])
    assert not models["a"].given and models["b"].given
    assert models["b"].file == str(tmp_path / "b" / "model.pt")
    assert (models["a"].n_training, models["a"].n_validation) == (3, 1)
    context = _context(models=models)
    assert "trained in this run on the 3 training subjects" in context.model_origin("a")
    assert "given in the configuration" in context.model_origin("b")
    assert "qmrflow 9.8.7" in context.model_origin("b")
    with pytest.raises(ValueError, match="2 model names for 1"):
        load_models(["a", "b"], paths[:1])
    with pytest.raises(KeyError, match="no model 'c'"):
        context.model("c")


def test_the_document_states_checksums_seeds_versions_and_the_config_hash():
    context = _context(config={"dataset": "demo", "demo": {"seed": 99}, "model": {"seed": 5}})
    document = compose_methods(context, _methods(context), snakemake_version="9.1.2")
    markdown = to_markdown(document)
    assert model_metadata("net")["sha256"] in markdown
    assert "seed 4321" in markdown and "master seed is 777" in markdown
    assert "seed 4321 (fake.model.seed)" in markdown and "demo simulation used seed 99" in markdown
    assert config_hash(context.config) in markdown
    assert "Snakemake 9.1.2 workflow (Mölder et al. 2021)" in markdown
    # Installed versions win over the models' records; a package known nowhere says so.
    assert f"PyTorch {version('torch')}" in markdown
    assert "PyTorch 3.1.4 as recorded with the models" not in markdown
    assert "no-such-package-xyz not installed" in markdown
    assert "with qmrflow 9.8.7, PyTorch 3.1.4 and MONAI 2.7.1" in markdown  # as trained
    labels = [ref.label for ref in document.references]
    assert labels == sorted(labels, key=str.casefold)
    assert {PAPER.label, METHOD.label, SNAKEMAKE.label} <= set(labels)
    assert PACKAGE_REFERENCES["numpy"].label in labels


def test_a_version_missing_here_is_taken_from_the_models_metadata():
    metadata = model_metadata("net") | {"versions": {"no-such-package-xyz": "4.5.6"}}
    context = _context(models={"net": ModelRecord("net", metadata, "m/net/model.json")})
    markdown = to_markdown(compose_methods(context, _methods(context)))
    assert "no-such-package-xyz 4.5.6 as recorded with the models" in markdown


def test_markdown_is_escaped_and_html_is_a_standalone_escaped_page():
    context = _context()
    document = compose_methods(context, _methods(context))
    markdown = to_markdown(document)
    assert "5 \\* 3 \\< 20 and a\\_b" in markdown
    assert markdown.startswith("# Methods: a fake study\n")
    assert "## References" in markdown and "[doi:10.1/x](https://doi.org/10.1/x)" in markdown
    page = to_html(document)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "5 * 3 &lt; 20 and a_b" in page
    assert "A &lt;method&gt; &amp; more" in page
    assert '<a href="https://doi.org/10.1/x">doi:10.1/x</a>' in page
    assert "<script" not in page and "http-equiv" not in page


def test_every_study_has_a_methods_builder_and_an_unknown_one_is_named():
    for study in available_studies():
        assert callable(study_builder(study))
    with pytest.raises(LookupError, match="no-such-study"):
        study_builder("no-such-study")


def test_write_methods_writes_markdown_and_html_from_the_files(tmp_path, monkeypatch):
    module = types.ModuleType("qmrflow.studies.fake.methods")
    module.describe = _methods
    monkeypatch.setitem(sys.modules, "qmrflow.studies.fake.methods", module)
    table, splits = participants((2, 1, 1))
    table["participant_id"] = "sub-" + table["participant_id"]
    table.to_csv(tmp_path / "participants.tsv", sep="\t", index=False)
    meta = tmp_path / "models" / "net" / "model.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps(model_metadata("net")))
    out = tmp_path / "group"
    document = write_methods(
        out / "methods.md",
        out / "methods.html",
        study="fake",
        config={"dataset": "demo", "demo": {"seed": 1}, "model": {"trained": {"net": {}}}},
        participants=tmp_path / "participants.tsv",
        splits=splits,
        model_names=["net"],
        metadata=[meta],
        training_seed=3,
        master_seed=4,
        snakemake_version="9.0.0",
    )
    markdown = (out / "methods.md").read_text()
    assert markdown == to_markdown(document)
    assert (out / "methods.html").read_text() == to_html(document)
    assert "given in the configuration" in markdown  # model.trained names it
    assert "4 subjects used" in markdown
    assert "Rows: 2 in training." in markdown  # the table's sub- labels matched the splits
    assert str(meta.with_name("model.pt")) in (out / "methods.html").read_text()


def test_the_context_of_a_real_study_is_built_from_its_validated_config():
    context = study_context("qsm", {"confidence": 0.9}, models={})
    assert context.config["confidence"] == 0.9
    assert context.config["qsm"]["tkd_threshold"] == 0.19  # the schema's default
