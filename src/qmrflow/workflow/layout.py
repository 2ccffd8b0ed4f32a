"""Where a study's files are and who its subjects are: one object per configured study.

A :class:`StudyLayout` holds everything the rules need to know about a study that is not a rule:
the dataset root (the simulated demo or the user's BIDS dataset), the output, group and model
folders, the validated participants table, subjects by split, one row lookup, the study's
targets, the training provenance, the model seed and the trained models named in the config.
What differs between studies is one :class:`StudySpec`, the study's row of the registry
(:mod:`qmrflow.workflow.registry`), defined in ``qmrflow.studies.<study>.study``.

Pure Python (no Snakemake): the rules build it at parse time, the tests build it directly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from qmrflow.config import load_schema, read_participants
from qmrflow.errors import ConfigError
from qmrflow.io.bids import bids_path

if TYPE_CHECKING:
    from qmrflow.workflow.missing import RequiredInput

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Config = Mapping[str, Any]

#: The participants table's splits, in the order subjects are listed.
SPLITS: tuple[str, ...] = ("train", "val", "test")


def with_id_prefix(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """A demo participants table with ``prefix`` put before every participant label."""
    if not prefix:
        return table
    return table.assign(participant_id=prefix + table["participant_id"].astype(str))


@dataclass(frozen=True)
class StudySpec:
    """What makes a study different from another, for the layout (the registry row).

    Parameters
    ----------
    name
        The study's key in the config and its folder name under ``rules/`` and ``studies/``.
    demo_participants
        The study's ``demo`` config block -> the simulated demo cohort's participants table.
    models
        Study config -> names of the models the study trains or applies (e.g. architectures).
    tables, figures
        Group outputs: key -> file name under the study's ``group`` folder.
    training_sections
        Config sections (besides ``dataset`` and ``demo``) that determine a trained model.
    untrained_model_keys
        Keys of the ``model`` section that do not change a trained model (e.g. the list of
        architectures, or the trained models given in the config), left out of its provenance.
    check_participants
        ``(table, training, file)`` -> raises ConfigError when a user's table cannot run the
        study (``training`` is False when every model is given in the config).
    check_config
        ``(study config, config file)`` -> raises ConfigError for a combination of values the
        schema cannot express.
    bids_ignore
        ``.bidsignore`` patterns of the study's files that the BIDS specification has no name
        for, by dataset: ``raw`` (the input dataset), ``derivatives`` (the study's outputs) and
        each demo derivative pipeline (e.g. ``truth``).
    demo_derivatives
        The derivative datasets the demo simulation writes beside its raw dataset
        (``<root>/derivatives/<pipeline>``), each described as a BIDS derivative dataset.
    required_inputs
        ``(layout, split)`` -> the input files the jobs of a subject of that split read in a
        user's dataset, given the models the study trains: by kind, with the forms the study
        accepts (:class:`~qmrflow.workflow.missing.RequiredInput`), the participant label in
        the names as :data:`~qmrflow.workflow.missing.SUBJECT`. Looked for at start-up
        (:func:`~qmrflow.workflow.missing.check_missing_inputs`), before any job.
    """

    name: str
    demo_participants: Callable[[Config], pd.DataFrame]
    models: Callable[[Config], Sequence[str]]
    tables: Mapping[str, str]
    figures: Mapping[str, str]
    training_sections: tuple[str, ...] = ()
    untrained_model_keys: tuple[str, ...] = ("trained",)
    check_participants: Callable[[pd.DataFrame, bool, Path], None] | None = None
    check_config: Callable[[Config, str | None], None] | None = None
    bids_ignore: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    demo_derivatives: tuple[str, ...] = ("truth",)
    required_inputs: Callable[[StudyLayout, str], Sequence[RequiredInput]] | None = None


@dataclass(frozen=True)
class TrainedModel:
    """A finished model file named in the config, to apply instead of training."""

    name: str
    file: str
    sha256: str


@dataclass
class StudyLayout:
    """The files, subjects and models of one configured study.

    Parameters
    ----------
    spec
        The study's registry row.
    config
        The whole validated config (defaults filled in).
    schemas
        Folder of the JSON Schemas (``<study>.participants.schema.yaml``).
    configfile
        The config file named in errors.
    """

    spec: StudySpec
    config: Config
    schemas: Path
    configfile: str | None = None
    #: Subjects of the participants table left out of the study (:meth:`leave_out`).
    left_out: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        if self.spec.check_config is not None:
            self.spec.check_config(self.study, self.configfile)
        self._check_trained()

    # ---------------------------------------------------------------- configuration
    @property
    def name(self) -> str:
        """The study's name."""
        return self.spec.name

    @property
    def study(self) -> Config:
        """The study's config section."""
        return self.config[self.name]

    @property
    def demo(self) -> bool:
        """Whether the study runs on the simulated demo cohort."""
        return self.study["dataset"] == "demo"

    @property
    def results(self) -> str:
        """The results folder of the whole workflow."""
        return str(self.config["results"]).rstrip("/")

    @property
    def root(self) -> str:
        """The input dataset root: the demo under ``<results>/demo/<study>`` or the user's."""
        if self.demo:
            return f"{self.results}/demo/{self.name}"
        return str(self.study["dataset"]).rstrip("/")

    @property
    def out(self) -> str:
        """The study's derivatives folder."""
        return f"{self.results}/{self.name}"

    @property
    def group(self) -> str:
        """The folder of the study's group-level tables and figures."""
        return f"{self.out}/group"

    @property
    def models_dir(self) -> str:
        """The folder of the models trained by this workflow."""
        return f"{self.results}/models/{self.name}"

    @property
    def seed(self) -> int:
        """The training seed: ``model.seed`` when set (0 included), else the master seed."""
        seed = self.study.get("model", {}).get("seed")
        return int(self.config["seed"] if seed is None else seed)

    # ---------------------------------------------------------------- participants
    @property
    def participants_file(self) -> str:
        """The participants table on disk (written by the demo simulation for the demo)."""
        return f"{self.root}/participants.tsv"

    @cached_property
    def participants_schema(self) -> dict[str, Any]:
        """The JSON Schema of one row of the study's participants table."""
        return load_schema(self.schemas / f"{self.name}.participants.schema.yaml")

    @cached_property
    def participants(self) -> pd.DataFrame:
        """The validated participants table (the demo's is computed, not read)."""
        if self.demo:
            return self.spec.demo_participants(self.study["demo"])
        path = Path(self.participants_file)
        table = read_participants(path, self.participants_schema)
        if self.spec.check_participants is not None:
            self.spec.check_participants(table, bool(self.models_to_train), path)
        return table

    @cached_property
    def rows(self) -> dict[str, dict[str, Any]]:
        """Participant label -> its row as a plain dict.

        Rules look rows up per job; a dict lookup keeps planning linear in the cohort size
        where a table scan per job is quadratic.
        """
        return {row["participant_id"]: row for row in self.participants.to_dict(orient="records")}

    def row(self, subject: str) -> dict[str, Any]:
        """One participant's row."""
        try:
            return self.rows[subject]
        except KeyError:
            raise KeyError(f"sub-{subject} is not in {self.participants_file}") from None

    def leave_out(self, subjects: Collection[str]) -> None:
        """Leave subjects of a user's table out of the study: out of its splits, and so of its
        targets, its training and its group statistics (every rule lists subjects through
        :meth:`subjects`). Used for the subjects that lack a required input
        (config ``missing_inputs: skip``). Must be called before the study's rules are read.

        Raises
        ------
        ConfigError
            The subjects left make a table the study cannot run (its ``check_participants``:
            e.g. no test subject, or a training split without both classes).
        KeyError
            A subject is not in the participants table.
        """
        drop = set(subjects)
        unknown = sorted(drop - set(self.rows))
        if unknown:
            raise KeyError(f"sub-{unknown[0]} is not in {self.participants_file}")
        table = self.participants
        kept = table[~table["participant_id"].isin(drop)].reset_index(drop=True)
        if self.spec.check_participants is not None:
            try:
                self.spec.check_participants(
                    kept, bool(self.models_to_train), Path(self.participants_file)
                )
            except ConfigError as exc:
                raise ConfigError(
                    f"{exc} (once the {len(drop)} subject(s) lacking a required input are left "
                    "out: config missing_inputs: skip)"
                ) from exc
        self.__dict__["participants"] = kept
        self.__dict__.pop("rows", None)
        self.left_out = (*self.left_out, *(s for s in table["participant_id"] if s in drop))

    def subjects(self, *splits: str) -> list[str]:
        """Participant labels in table order, optionally only those of the given splits."""
        if not splits:
            return list(self.rows)
        wanted = set(splits)
        return [pid for pid, row in self.rows.items() if row["split"] in wanted]

    # ---------------------------------------------------------------- paths
    def on_disk(self, files: Mapping[str, str]) -> dict[str, str]:
        """The dataset files a job gets as inputs: all of them for the demo (its simulation
        writes them), else those on disk. A user's subject whose file is missing (one the
        study's :attr:`StudySpec.required_inputs` does not list, or a subject named as a
        target) then fails in its own job, which names the file (pass the expected path as a
        param), instead of stopping the planning of every subject's jobs."""
        if self.demo:
            return dict(files)
        return {key: path for key, path in files.items() if Path(path).is_file()}

    def dataset_file(self, suffix: str, extension: str = ".nii.gz", **entities: object) -> str:
        """A BIDS file of the input dataset (``datatype`` defaults to ``anat``)."""
        return bids_path(self.root, suffix, extension, **entities)

    def dataset_derivative(
        self, pipeline: str, suffix: str, extension: str = ".nii.gz", **entities: object
    ) -> str:
        """A file of the dataset's own derivatives (``<root>/derivatives/<pipeline>``), such as
        the demo's ground truth or a user's manual labels."""
        return bids_path(f"{self.root}/derivatives/{pipeline}", suffix, extension, **entities)

    def derivative(self, suffix: str, extension: str = ".nii.gz", **entities: object) -> str:
        """A per-subject BIDS derivative of this study (``datatype`` defaults to ``anat``)."""
        return bids_path(self.out, suffix, extension, **entities)

    def group_file(self, name: str) -> str:
        """A group-level table or figure."""
        return f"{self.group}/{name}"

    def tables(self) -> dict[str, str]:
        """Key -> path of every group table."""
        return {key: self.group_file(name) for key, name in self.spec.tables.items()}

    def figures(self) -> dict[str, str]:
        """Key -> path of every group figure."""
        return {key: self.group_file(name) for key, name in self.spec.figures.items()}

    @property
    def description_file(self) -> str:
        """The derivatives' ``dataset_description.json``."""
        return f"{self.out}/dataset_description.json"

    @property
    def derivatives_ignore_file(self) -> str:
        """The derivatives' ``.bidsignore`` (the study's files BIDS has no name for)."""
        return f"{self.out}/.bidsignore"

    def demo_dataset_files(self) -> dict[str, str]:
        """Key -> path of the demo dataset's dataset-level files (the demo's participants rule
        writes them): participants table and its JSON, dataset descriptions and .bidsignore
        files of the raw dataset and of each demo derivative pipeline."""
        from qmrflow.simulate.dataset import dataset_level_files

        return dataset_level_files(
            self.root, pipelines=self.spec.demo_derivatives, ignore=self.spec.bids_ignore
        )

    def methods_files(self) -> dict[str, str]:
        """The study's methods text (:mod:`qmrflow.report.methods`), beside its group results:
        ``markdown`` and ``html``."""
        return {"markdown": self.group_file("methods.md"), "html": self.group_file("methods.html")}

    def targets(self) -> list[str]:
        """The study's final outputs: group tables, figures, the methods text and the dataset
        description; for the demo also its dataset-level files, so that the simulated dataset
        is a whole BIDS dataset even where no rule reads its participants table."""
        outputs = [
            *self.tables().values(),
            *self.figures().values(),
            *self.methods_files().values(),
            self.description_file,
        ]
        return outputs + (list(self.demo_dataset_files().values()) if self.demo else [])

    # ---------------------------------------------------------------- models
    @property
    def model_names(self) -> list[str]:
        """Names of the models the study uses (trained here or given in the config)."""
        return list(self.spec.models(self.study))

    @cached_property
    def trained_models(self) -> dict[str, TrainedModel]:
        """Models given in the config (``<study>.model.trained``), by name."""
        given = self.study.get("model", {}).get("trained") or {}
        return {
            name: TrainedModel(name=name, file=str(item["file"]), sha256=str(item["sha256"]))
            for name, item in given.items()
        }

    @property
    def models_to_train(self) -> list[str]:
        """Models this workflow trains: those not given in the config."""
        return [name for name in self.model_names if name not in self.trained_models]

    def trained_model_path(self, name: str) -> str:
        """Where this workflow writes model ``name`` when it trains it."""
        return f"{self.models_dir}/{name}/model.pt"

    def model_file(self, name: str) -> str:
        """The checkpoint applied for model ``name``: the configured file, else the trained one."""
        given = self.trained_models.get(name)
        return given.file if given else self.trained_model_path(name)

    def model_metadata(self, name: str) -> str:
        """The metadata JSON beside :meth:`model_file`."""
        return str(Path(self.model_file(name)).with_suffix(".json"))

    def model_sha256(self, name: str) -> str | None:
        """The configured sha256 of model ``name``; None when it is trained here (its metadata
        records the checksum)."""
        given = self.trained_models.get(name)
        return given.sha256 if given else None

    @property
    def training_provenance(self) -> dict[str, Any]:
        """What determines a trained model: the data, the training sections and the model
        settings (without the keys of :attr:`StudySpec.untrained_model_keys`).

        The rules pass it as a training job's params, so a change reruns the training and
        nothing else does: adding an architecture or evaluation settings do not.
        """
        record: dict[str, Any] = {
            "dataset": self.study["dataset"],
            "demo": self.study["demo"] if self.demo else None,
        }
        for section in self.spec.training_sections:
            record[section] = self.study[section]
        record["model"] = {
            key: value
            for key, value in self.study.get("model", {}).items()
            if key not in self.spec.untrained_model_keys
        }
        return record

    def _check_trained(self) -> None:
        """Configured models must be models of the study, exist, and have their metadata."""
        location = f"{self.name}.model.trained"
        unknown = sorted(set(self.trained_models) - set(self.model_names))
        if unknown:
            raise ConfigError(
                f"trained model(s) {unknown} are not models of this study "
                f"(configured: {self.model_names})",
                file=self.configfile,
                location=location,
            )
        for model in self.trained_models.values():
            path = Path(model.file)
            if not path.is_file():
                raise ConfigError(
                    f"model {model.name}: file {path} not found",
                    file=self.configfile,
                    location=f"{location}.{model.name}.file",
                )
            metadata = path.with_suffix(".json")
            if not metadata.is_file():
                raise ConfigError(
                    f"model {model.name}: {path} has no qmrflow metadata {metadata.name} beside "
                    "it (written with the model by qmrflow's training job)",
                    file=self.configfile,
                    location=f"{location}.{model.name}.file",
                )
