"""The methods text of a study, generated from the run's configuration and provenance.

As fMRIPrep's citation boilerplate does, each study gets a methods section a reader can paste
into a manuscript: what the study's chain did with the parameters of the configuration that
was run, the subjects per split, the statistics chosen, the models applied with their
checksums and seeds, the software versions, and the references of the methods used. Nothing
in it is a result: it is written from the configuration, the participants table and the
models' metadata only, so it does not change when one subject's data change.

Structure
---------
* Each study writes its own paragraphs: ``qmrflow.studies.<study>.methods`` defines
  ``describe(context) -> StudyMethods`` (found by that conventional name, so adding a study
  touches only its own files). It reads the study's config section and models through the
  :class:`MethodsContext` and cites with :meth:`MethodsContext.cite`.
* This module adds what every study shares (the models' checksums and training records, the
  seeds, the software and its versions, the configuration hash) and renders the whole as
  Markdown (:func:`to_markdown`) and as a standalone HTML page (:func:`to_html`).
* :func:`write_methods` is the job of the workflow's ``write_methods`` rule.

Versions are those installed where the text is written (:func:`qmrflow.provenance.
package_versions`); a package absent there (e.g. PyTorch in a CPU-only environment) is taken
from the models' metadata, which records the versions the models were trained with.
"""

from __future__ import annotations

import html
import importlib
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from qmrflow.io.atomic import atomic_output
from qmrflow.provenance import config_hash, package_versions
from qmrflow.report.references import BIDS, PACKAGE_REFERENCES, SNAKEMAKE, Reference

__all__ = [
    "BUILDER",
    "MethodsContext",
    "MethodsDocument",
    "ModelRecord",
    "Section",
    "StudyMethods",
    "compose_methods",
    "dims",
    "listing",
    "load_models",
    "number",
    "study_builder",
    "to_html",
    "to_markdown",
    "write_methods",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The function of ``qmrflow.studies.<study>.methods`` that writes the study's paragraphs.
BUILDER = "describe"

#: Packages every study's text reports, besides those its builder names.
COMMON_PACKAGES: tuple[str, ...] = ("numpy", "scipy", "pandas", "nibabel")

#: Display names of distributions (``importlib.metadata`` names) in the text.
PACKAGE_NAMES: dict[str, str] = {
    "torch": "PyTorch",
    "monai": "MONAI",
    "numpy": "NumPy",
    "scipy": "SciPy",
    "pandas": "pandas",
    "statsmodels": "statsmodels",
    "pingouin": "pingouin",
    "scikit-learn": "scikit-learn",
    "scikit-image": "scikit-image",
    "nibabel": "NiBabel",
    "SimpleITK": "SimpleITK",
    "finufft": "FINUFFT",
    "matplotlib": "Matplotlib",
    "ismrmrd": "ismrmrd",
    "h5py": "h5py",
    "pydicom": "pydicom",
}

_SPLIT_ROLES = {
    "train": "training",
    "val": "model selection (validation)",
    "test": "evaluation (test)",
}
_NOT_INSTALLED = "not installed"


# ------------------------------------------------------------------ text helpers
def number(value: Any) -> str:
    """A config value as text: integers plainly, floats with up to 6 significant digits,
    booleans as yes/no, None as "none", lists as "a, b and c"."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return listing(number(item) for item in value)
    return str(value)


def listing(items: Iterable[Any], conjunction: str = "and") -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"`` (items as text)."""
    words = [str(item) for item in items]
    if not words:
        return "none"
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def dims(value: Sequence[Any]) -> str:
    """A shape or grid as text: ``[96, 112]`` -> ``"96 x 112"``."""
    return " x ".join(number(item) for item in value)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``"1 subject"``, ``"3 subjects"``."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


# ------------------------------------------------------------------ structures
@dataclass(frozen=True)
class Section:
    """A titled part of the methods text: paragraphs of plain text (citations included)."""

    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class StudyMethods:
    """What a study's builder writes.

    Parameters
    ----------
    title
        The study in a few words (the document's title).
    paper
        The study's paper (the text reproduces its method).
    sections
        The study's own sections, in reading order (data, processing, models, statistics).
    packages
        Distribution names whose versions the text reports (those the study's chain imports),
        besides :data:`COMMON_PACKAGES`.
    """

    title: str
    paper: Reference
    sections: tuple[Section, ...]
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelRecord:
    """A model the study applies, as its metadata JSON records it.

    Parameters
    ----------
    name
        The model's name in the study (e.g. an architecture, ``generator``).
    metadata
        The metadata written with the checkpoint (:func:`qmrflow.dl.checkpoint.save_checkpoint`).
    metadata_file
        Where the metadata is; the checkpoint is beside it.
    given
        True when the config names the checkpoint (``<study>.model.trained``): applied, not
        trained in this run.
    """

    name: str
    metadata: Mapping[str, Any]
    metadata_file: str
    given: bool = False

    @property
    def sha256(self) -> str:
        """The checkpoint's sha256."""
        return str(self.metadata.get("sha256", "unknown"))

    @property
    def seed(self) -> int | None:
        """The training seed."""
        seed = self.metadata.get("seed")
        return None if seed is None else int(seed)

    @property
    def file(self) -> str:
        """The checkpoint file."""
        return str(Path(self.metadata_file).with_name(str(self.metadata.get("file", "model.pt"))))

    @property
    def settings(self) -> dict[str, Any]:
        """The training settings recorded with the model (``settings`` or ``train_config``)."""
        return dict(self.metadata.get("settings") or self.metadata.get("train_config") or {})

    @property
    def n_training(self) -> int:
        """Number of training subjects."""
        return len(self.metadata.get("training_subjects", ()))

    @property
    def n_validation(self) -> int:
        """Number of validation subjects."""
        return len(self.metadata.get("validation_subjects", ()))

    @property
    def versions(self) -> dict[str, str]:
        """Package versions of the training environment."""
        return dict(self.metadata.get("versions") or {})


def load_models(
    names: Sequence[str], metadata_files: Sequence[PathLike], given: Iterable[str] = ()
) -> dict[str, ModelRecord]:
    """The model records of a study: ``names[i]``'s metadata is ``metadata_files[i]``.

    Raises
    ------
    ValueError
        The two lists differ in length.
    """
    if len(names) != len(metadata_files):
        raise ValueError(f"{len(names)} model names for {len(metadata_files)} metadata files")
    configured = set(given)
    return {
        name: ModelRecord(
            name=name,
            metadata=json.loads(Path(path).read_text()),
            metadata_file=str(path),
            given=name in configured,
        )
        for name, path in zip(names, metadata_files, strict=True)
    }


@dataclass
class MethodsContext:
    """What a study's builder may read, and the citations it makes.

    Parameters
    ----------
    study
        The study's name.
    config
        The study's config section, defaults filled in (the validated config).
    participants
        The participants table (``participant_id`` without ``sub-``, ``split`` and the study's
        columns).
    splits
        Split -> the subjects the run uses from it (a user's subjects left out for missing
        inputs are not in it).
    models
        The models the study applies, by name.
    training_seed
        The seed of models trained in this run (``model.seed``, else the master seed).
    master_seed
        The config's master seed.
    left_out
        Subjects of the participants table the run left out (missing inputs).
    """

    study: str
    config: Mapping[str, Any]
    participants: pd.DataFrame
    splits: Mapping[str, Sequence[str]]
    models: Mapping[str, ModelRecord]
    training_seed: int
    master_seed: int
    left_out: Sequence[str] = ()
    _cited: dict[str, Reference] = field(default_factory=dict, init=False, repr=False)

    # ---------------------------------------------------------------- citations
    def cite(self, *references: Reference) -> str:
        """``"(Author et al. 2001; Other 2002)"``, recording the references."""
        return f"({self.cite_names(*references)})"

    def cite_names(self, *references: Reference) -> str:
        """``"Author et al. 2001; Other 2002"`` (no parentheses), recording the references."""
        for reference in references:
            known = self._cited.get(reference.label)
            if known is not None and known != reference:
                raise ValueError(f"two references labelled {reference.label!r}")
            self._cited[reference.label] = reference
        return "; ".join(reference.label for reference in references)

    @property
    def references(self) -> list[Reference]:
        """Every reference cited so far, sorted by label."""
        return sorted(self._cited.values(), key=lambda ref: ref.label.casefold())

    # ---------------------------------------------------------------- data
    @property
    def demo(self) -> bool:
        """Whether the study ran on the simulated demo cohort."""
        return self.config.get("dataset") == "demo"

    def subjects(self, *splits: str) -> list[str]:
        """The subjects used from the given splits (all splits when none given)."""
        chosen = splits or tuple(self.splits)
        return [subject for split in chosen for subject in self.splits.get(split, ())]

    def count(self, *splits: str) -> int:
        """Number of subjects used from the given splits (all when none given)."""
        return len(self.subjects(*splits))

    def rows(self, *splits: str) -> pd.DataFrame:
        """The participants table's rows of the subjects used from the given splits."""
        wanted = set(self.subjects(*splits))
        return self.participants[self.participants["participant_id"].isin(wanted)]

    def breakdown(self, column: str, *splits: str, labels: Mapping[Any, str] | None = None) -> str:
        """``"12 DMD, 3 BMD and 30 other"``: counts of a participants column's values among
        the subjects used from the given splits, in order of first appearance."""
        rows = self.rows(*splits)
        if column not in rows:
            return ""
        counts = rows[column].astype(str).value_counts(sort=False)
        return listing(f"{n} {(labels or {}).get(value, value)}" for value, n in counts.items())

    def dataset_sentence(self) -> str:
        """Where the data came from: the simulated demo cohort or the user's BIDS dataset."""
        if self.demo:
            seed = self.config.get("demo", {}).get("seed")
            return (
                f"The data are qmrflow's simulated demo cohort (simulation seed {number(seed)}), "
                f"written in the study's input layout as a BIDS dataset {self.cite(BIDS)} with "
                "its ground truth as a derivative dataset beside it."
            )
        return (
            f"The data are the BIDS dataset {self.cite(BIDS)} at {self.config.get('dataset')}, "
            "read in the study's input layout."
        )

    def split_sentence(self) -> str:
        """How many subjects each split holds and what it is for."""
        parts = [
            f"{self.count(split)} for {role}"
            for split, role in _SPLIT_ROLES.items()
            if split in self.splits
        ]
        text = (
            f"The participants table's split column assigns the {plural(self.count(), 'subject')} "
            f"used: {listing(parts)}. Models see only the training and validation subjects; "
            "every reported statistic is computed on the test subjects."
        )
        if self.left_out:
            text += (
                f" {plural(len(self.left_out), 'subject')} of the participants table "
                f"({listing('sub-' + s for s in self.left_out)}) lacked a required input and "
                "were left out."
            )
        return text

    # ---------------------------------------------------------------- models
    def model(self, name: str) -> ModelRecord:
        """The record of model ``name``.

        Raises
        ------
        KeyError
            The study has no such model.
        """
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(f"study {self.study} has no model {name!r}") from None

    def model_origin(self, name: str) -> str:
        """How model ``name`` came to be applied: trained in this run, or given in the config."""
        record = self.model(name)
        if record.given:
            return (
                f"applied as given in the configuration ({self.study}.model.trained; trained by "
                f"qmrflow {record.versions.get('qmrflow', 'of unknown version')} on "
                f"{plural(record.n_training, 'subject')}, selected on {record.n_validation})"
            )
        return (
            f"trained in this run on the {plural(record.n_training, 'training subject')} and "
            f"selected on the {plural(record.n_validation, 'validation subject')}"
        )


@dataclass(frozen=True)
class MethodsDocument:
    """The whole methods text of a study: its sections, then the shared ones, and references."""

    study: str
    title: str
    sections: tuple[Section, ...]
    references: tuple[Reference, ...]


# ------------------------------------------------------------------ composing
def study_builder(study: str) -> Any:
    """The study's text builder, ``qmrflow.studies.<study>.methods.describe``.

    Raises
    ------
    LookupError
        The study has no methods module or it lacks the builder.
    """
    try:
        module = importlib.import_module(f"qmrflow.studies.{study}.methods")
    except ModuleNotFoundError as error:
        raise LookupError(
            f"study {study!r} has no methods text: add qmrflow/studies/{study}/methods.py with "
            f"a function {BUILDER}(context) -> StudyMethods"
        ) from error
    builder = getattr(module, BUILDER, None)
    if builder is None:
        raise LookupError(f"qmrflow.studies.{study}.methods has no function {BUILDER}(context)")
    return builder


def _resolved_versions(
    names: Sequence[str], models: Iterable[ModelRecord]
) -> dict[str, tuple[str, str]]:
    """Package -> (version, where from): installed here, else as the models recorded it."""
    installed = package_versions(names)
    out: dict[str, tuple[str, str]] = {"python": (installed.pop("python"), "installed")}
    recorded: dict[str, str] = {}
    for model in models:
        for name, version in model.versions.items():
            if version != _NOT_INSTALLED:
                recorded.setdefault(name, version)
    for name in names:
        version = installed.get(name, _NOT_INSTALLED)
        if version == _NOT_INSTALLED and name in recorded:
            out[name] = (recorded[name], "model metadata")
        else:
            out[name] = (version, "installed")
    return out


def _model_paragraphs(context: MethodsContext) -> tuple[str, ...]:
    paragraphs = []
    for name, record in context.models.items():
        versions = record.versions
        trained_with = listing(
            f"{PACKAGE_NAMES.get(package, package)} {versions[package]}"
            for package in ("qmrflow", "torch", "monai")
            if package in versions
        )
        text = (
            f"Model {name} ({record.metadata.get('task', 'task not recorded')}) is the "
            f"checkpoint {record.file}, sha256 {record.sha256}; it was "
            f"{context.model_origin(name)}"
        )
        if record.seed is not None:
            text += f", with seed {record.seed}"
        if record.metadata.get("deterministic"):
            text += " and deterministic algorithms"
        text += f", on device {record.metadata.get('device', 'not recorded')}"
        if trained_with:
            text += f", with {trained_with}"
        paragraphs.append(
            text + ". It is verified against this checksum before every use and loaded with "
            "weights_only=True; it was never applied to a subject it was trained or selected on."
        )
    return tuple(paragraphs)


def _software_paragraph(
    context: MethodsContext, packages: Sequence[str], snakemake_version: str | None
) -> str:
    versions = _resolved_versions(["qmrflow", *packages], context.models.values())
    qmrflow, _ = versions.pop("qmrflow")
    python, _ = versions.pop("python")
    workflow = f"Snakemake {snakemake_version}" if snakemake_version else "Snakemake"
    items = []
    for package, (version, source) in versions.items():
        name = PACKAGE_NAMES.get(package, package)
        reference = PACKAGE_REFERENCES.get(package)
        cited = f" {context.cite(reference)}" if reference else ""
        where = " as recorded with the models" if source == "model metadata" else ""
        items.append(f"{name} {version}{where}{cited}")
    return (
        f"The analysis was run by qmrflow {qmrflow}, a {workflow} workflow "
        f"{context.cite(SNAKEMAKE)}, on Python {python}, with {listing(items)}."
    )


def _reproducibility_paragraph(context: MethodsContext) -> str:
    seeds = [f"the master seed is {context.master_seed}"]
    if any(not model.given for model in context.models.values()):
        source = (
            f"{context.study}.model.seed"
            if context.config.get("model", {}).get("seed") is not None
            else "the master seed"
        )
        seeds.append(f"models trained in this run used seed {context.training_seed} ({source})")
    if context.demo:
        seeds.append(
            f"the demo simulation used seed {number(context.config.get('demo', {}).get('seed'))}"
        )
    return (
        f"Every random step is seeded: {listing(seeds)}. The study's configuration section has "
        f"sha256 {config_hash(context.config)} (keys sorted, as JSON), the hash recorded in the "
        "derivatives' dataset_description.json."
    )


def compose_methods(
    context: MethodsContext, methods: StudyMethods, *, snakemake_version: str | None = None
) -> MethodsDocument:
    """The study's sections followed by the shared ones: models, software and seeds.

    Parameters
    ----------
    context
        The context the study's builder wrote ``methods`` with (its citations included).
    methods
        The study's own text.
    snakemake_version
        The version of Snakemake that ran the workflow.
    """
    packages = list(dict.fromkeys([*COMMON_PACKAGES, *methods.packages]))
    shared = []
    models = _model_paragraphs(context)
    if models:
        shared.append(Section("Models and checksums", models))
    shared.append(
        Section(
            "Software and reproducibility",
            (
                _software_paragraph(context, packages, snakemake_version),
                _reproducibility_paragraph(context),
            ),
        )
    )
    return MethodsDocument(
        study=context.study,
        title=methods.title,
        sections=(*methods.sections, *shared),
        references=tuple(context.references),
    )


# ------------------------------------------------------------------ rendering
_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>#|"})


def _markdown_text(text: str) -> str:
    return text.translate(_MARKDOWN_SPECIAL)


def _link(reference: Reference) -> str | None:
    if reference.doi:
        return "https://doi.org/" + quote(reference.doi, safe="/:;()-._")
    return reference.url


def to_markdown(document: MethodsDocument) -> str:
    """The methods text as Markdown (CommonMark): headings, paragraphs, numbered references."""
    lines = [f"# Methods: {_markdown_text(document.title)}", ""]
    lines.append(
        "*Generated by qmrflow from the configuration and the provenance of this run; "
        "edit the configuration, not this file.*"
    )
    lines.append("")
    for section in document.sections:
        lines += [f"## {_markdown_text(section.title)}", ""]
        for paragraph in section.paragraphs:
            lines += [_markdown_text(paragraph), ""]
    lines += ["## References", ""]
    for reference in document.references:
        link = _link(reference)
        where = ""
        if link:
            shown = f"doi:{reference.doi}" if reference.doi else link
            where = f" [{_markdown_text(shown)}]({link})"
        lines.append(f"- {_markdown_text(reference.text)}{where}")
    return "\n".join(lines).rstrip() + "\n"


_STYLE = (
    "body{font-family:Georgia,serif;max-width:48em;margin:2em auto;padding:0 1em;"
    "line-height:1.5;color:#222}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.5em}"
    "p.note{font-style:italic;color:#555}li{margin-bottom:.4em}"
)


def to_html(document: MethodsDocument) -> str:
    """The methods text as a standalone HTML page (no external resources)."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>Methods: {esc(document.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Methods: {esc(document.title)}</h1>",
        '<p class="note">Generated by qmrflow from the configuration and the provenance of '
        "this run; edit the configuration, not this page.</p>",
    ]
    for section in document.sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        parts += [f"<p>{esc(paragraph)}</p>" for paragraph in section.paragraphs]
    parts += ["<h2>References</h2>", "<ul>"]
    for reference in document.references:
        link = _link(reference)
        where = ""
        if link:
            shown = f"doi:{reference.doi}" if reference.doi else link
            where = f' <a href="{esc(link)}">{esc(shown)}</a>'
        parts.append(f"<li>{esc(reference.text)}{where}</li>")
    parts += ["</ul>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------ the workflow's job
def write_methods(
    markdown: PathLike,
    html_file: PathLike,
    *,
    study: str,
    config: Mapping[str, Any],
    participants: PathLike,
    splits: Mapping[str, Sequence[str]],
    model_names: Sequence[str],
    metadata: Sequence[PathLike],
    training_seed: int,
    master_seed: int,
    left_out: Sequence[str] = (),
    snakemake_version: str | None = None,
) -> MethodsDocument:
    """Write a study's methods text as Markdown and HTML.

    Parameters
    ----------
    markdown, html_file
        Output files.
    study
        The study's name (its builder is ``qmrflow.studies.<study>.methods.describe``).
    config
        The study's config section, validated (defaults filled in).
    participants
        The participants table file.
    splits
        Split -> the subjects the run uses from it.
    model_names, metadata
        The models the study applies and their metadata JSON files, in the same order.
    training_seed, master_seed
        The seed of models trained in this run, and the config's master seed.
    left_out
        Subjects of the participants table the run left out.
    snakemake_version
        The version of Snakemake running the workflow.

    Returns
    -------
    MethodsDocument
        What was written.
    """
    from qmrflow.io import read_tsv

    given = (config.get("model", {}).get("trained") or {}).keys()
    context = MethodsContext(
        study=study,
        config=config,
        participants=read_tsv(participants),  # bare labels, as every table
        splits={split: list(subjects) for split, subjects in splits.items()},
        models=load_models(model_names, metadata, given),
        training_seed=int(training_seed),
        master_seed=int(master_seed),
        left_out=tuple(left_out),
    )
    document = compose_methods(
        context, study_builder(study)(context), snakemake_version=snakemake_version
    )
    for path, text in ((markdown, to_markdown(document)), (html_file, to_html(document))):
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    logger.info(
        "methods of study %s: %d sections, %d references -> %s",
        study,
        len(document.sections),
        len(document.references),
        markdown,
    )
    return document
