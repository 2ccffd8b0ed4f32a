"""One workflow contract for every study: the real Snakemake on each study's tiny demo.

Every row of studies.STUDIES must: run end to end; write a demo dataset and derivatives that
the official BIDS validator passes; leave nothing to do; rerun only a changed test subject's
jobs plus the group jobs; apply a model given in the config, trained in another run, to a new
cohort without training; fail only a subject whose input is bad, naming it and the file; list
the subjects of a user's dataset that lack an input in one table before any job, then stop or
run the others (config missing_inputs); stop on a config error before any job; and hold its
group figures and tables, with captions, in the Snakemake report, which a browser shows.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from qmrflow.config import load_schema, validate_config
from qmrflow.workflow import StudyLayout, study_layouts
from qmrflow.workflow.status import GROUP, WORKFLOW, study_status

from ..conftest import LONGEST_FIRST
from .browser import REPORT_SIZE, chromium, contact_sheet, render, show_result, visible_text
from .conftest import REPO, planned_jobs, run_snakemake
from .debian import PackagesUnavailable
from .studies import STUDIES, StudyCase

pytestmark = pytest.mark.workflow
#: A study's tests run in one test process, which makes its tiny run once (tests/conftest.py).
each_study = pytest.mark.parametrize("case", STUDIES, ids=[case.name for case in STUDIES])


def layout_of(case: StudyCase, config: dict) -> StudyLayout:
    """The study's layout for a test config (paths relative to the run's folder)."""
    full = copy.deepcopy(config)
    validate_config(full, load_schema(REPO / "config/schemas/config.schema.yaml"))
    return study_layouts(full, schemas=REPO / "config/schemas")[case.name]


def merged(base: dict, change: dict) -> dict:
    """``base`` with ``change`` merged in, key by key."""
    out = copy.deepcopy(base)
    for key, value in change.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def bids_errors(dataset: Path) -> list[tuple[str, str]]:
    """The errors (code, file) the official BIDS validator finds in one dataset.

    Each dataset is validated on its own: the validator honours a nested derivative dataset's
    ``.bidsignore`` only when that dataset is the one validated.
    """
    validator = Path(sys.executable).with_name("bids-validator-deno")
    result = subprocess.run(
        [str(validator), str(dataset), "--format", "json", "--no-color"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    return [
        (issue["code"], issue.get("location", ""))
        for issue in report["issues"]["issues"]
        if issue["severity"] == "error"
    ]


def test_every_study_of_the_registry_has_a_row():
    from qmrflow.workflow import available_studies

    assert {case.name for case in STUDIES} == set(available_studies())
    assert set(LONGEST_FIRST) == set(available_studies())  # the test processes' study groups


@each_study
def test_demo_runs_end_to_end(case, study_run):
    workdir = study_run(case)
    layout = layout_of(case, case.tiny())
    for target in layout.targets():
        assert (workdir / target).stat().st_size > 0, target
    test = layout.subjects("test")
    for subject in test:
        for output in case.subject_outputs:
            assert (workdir / output.format(subject=subject)).is_file()
    index = (workdir / "results/qc/index.html").read_text()  # the QC pages' index links each
    assert all(f'href="{case.name}/sub-{subject}.html"' in index for subject in test)
    assert (workdir / "results/qc/flags.js").read_text().startswith("// qmrflow QC flags")
    description = json.loads((workdir / layout.description_file).read_text())
    assert description["DatasetType"] == "derivative"
    methods = (workdir / layout.methods_files()["html"]).read_text()  # the methods text
    assert f"{len(test)} for evaluation (test)" in methods
    for name in layout.model_names:
        meta = json.loads((workdir / layout.model_metadata(name)).read_text())
        assert len(meta["sha256"]) == 64 and meta["seed"] == layout.seed
        assert set(meta["training_subjects"]).isdisjoint(test)
        assert meta["sha256"] in {m["sha256"] for m in description["qmrflow"]["models"]}
        assert f"Model {name} " in methods and f"sha256 {meta['sha256']}" in methods


@each_study
def test_the_demo_dataset_and_the_derivatives_are_valid_bids(case, study_run):
    workdir = study_run(case)
    layout = layout_of(case, case.tiny())
    root = workdir / layout.root
    datasets = [
        root,
        *(root / "derivatives" / pipeline for pipeline in layout.spec.demo_derivatives),
        workdir / layout.out,
    ]
    for dataset in datasets:
        assert bids_errors(dataset) == [], dataset
    assert (root / "participants.tsv").read_text().splitlines()[1].startswith("sub-")


@each_study
def test_nothing_to_do_after_a_complete_run(case, study_run):
    assert planned_jobs(study_run(case), case.tiny()) == set()


@each_study
def test_a_changed_test_subject_reruns_only_its_jobs_and_the_group(case, study_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(study_run(case), workdir, symlinks=True)
    layout = layout_of(case, case.tiny())
    subject = layout.subjects("test")[0]
    case.change(workdir / layout.root, subject)
    jobs = planned_jobs(workdir, case.tiny())
    per_subject = {(rule, wildcards) for rule, wildcards in jobs if wildcards}
    assert all(f"subject={subject}" in wildcards for _, wildcards in per_subject)
    assert {rule for rule, _ in per_subject} == case.subject_rules
    assert {rule for rule, wildcards in jobs if not wildcards} == case.group_rules


#: Rules that record a study's whole config section (its params): any change of it reruns them.
RECORD_CONFIG = frozenset({"describe_derivatives", "write_methods"})


def _cells(jobs) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(subject, stage) -> (state, reasons) of a status job table; a cell of several jobs
    (one per acquisition, ...) takes the most urgent state and that state's reasons."""
    cells = {}
    for (subject, stage), group in jobs.groupby(["subject", "stage"], observed=True):
        state = next(s for s in ("failed", "will run", "done") if (group.state == s).any())
        reasons = {r for text in group[group.state == state].reason for r in text.split(", ")}
        cells[subject, stage] = (state, reasons - {""})
    return cells


@each_study
def test_status_names_exactly_the_cells_a_changed_input_and_parameter_rerun(
    case, study_run, tmp_path
):
    """`qmrflow status` (study_status) on a complete run after one test subject's input and
    one study parameter changed. Snakemake checks a job's own params only when nothing
    upstream of it reruns: the parameter's rule, downstream of every test subject, shows
    `upstream`; the rules that record the whole config section show `params changed`."""
    workdir = tmp_path / "copy"
    shutil.copytree(study_run(case), workdir, symlinks=True)
    layout = layout_of(case, case.tiny())
    subject = layout.subjects("test")[0]
    case.change(workdir / layout.root, subject)
    change, param_rule = case.parameter
    config = case.tiny()
    config[case.name] = merged(config[case.name], change)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))

    jobs = study_status(
        workdir, snakefile=REPO / "Snakefile", configfiles=[workdir / "config.yaml"]
    )
    assert set(jobs.study) <= {case.name, WORKFLOW}  # WORKFLOW: the cross-study rules
    cells = _cells(jobs)
    recorders = {(GROUP, rule) for rule in RECORD_CONFIG if (GROUP, rule) in cells}
    assert (GROUP, "describe_derivatives") in recorders
    expected = {(subject, rule) for rule in case.subject_rules} | recorders
    expected |= {(GROUP, rule) for rule in case.group_rules | {param_rule}}
    assert {cell for cell, (state, _) in cells.items() if state != "done"} == expected
    first = case.first_log.split("/")[0]
    assert cells[subject, first] == ("will run", {"input changed"})
    for rule in case.subject_rules - {first}:  # upstream, and/or reads the changed input
        assert set() < cells[subject, rule][1] <= {"upstream", "input changed"}, rule
    assert all(cells[cell] == ("will run", {"params changed"}) for cell in recorders)
    for rule in case.group_rules | {param_rule}:
        assert cells[GROUP, rule] == ("will run", {"upstream"}), rule
    assert all(reasons == set() for state, reasons in cells.values() if state == "done")


def test_status_before_anything_ran(tmp_path):
    """In a fresh folder every job of a study will run: its outputs are missing."""
    case = STUDIES[-1]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(case.tiny()))
    jobs = study_status(
        tmp_path, snakefile=REPO / "Snakefile", configfiles=[tmp_path / "config.yaml"]
    )
    assert set(jobs.state) == {"will run"}
    assert all("missing output" in reason.split(", ") for reason in jobs.reason)
    assert case.subject_rules | case.group_rules | case.train_rules <= set(jobs.stage)
    assert not (tmp_path / "results").exists()


@each_study
def test_a_given_model_is_applied_to_a_new_cohort_and_a_bad_subject_fails_alone(
    case, study_run, tmp_path
):
    trained_run = study_run(case)
    first = layout_of(case, case.tiny())
    trained = {}
    for name in first.model_names:
        meta = json.loads((trained_run / first.model_metadata(name)).read_text())
        trained[name] = {
            "file": str(trained_run / first.model_file(name)),
            "sha256": meta["sha256"],
        }
    config = case.tiny(seed=4242, id_prefix="new")
    config[case.name]["model"]["trained"] = trained
    layout = layout_of(case, config)
    assert set(layout.subjects()).isdisjoint(first.subjects())  # a new cohort
    assert not {rule for rule, _ in planned_jobs(tmp_path, config)} & case.train_rules

    run_snakemake(tmp_path, config, "--until", case.demo_rule)
    bad, *good = layout.subjects("test")
    broken = case.breakage(tmp_path / layout.root, bad)
    result = run_snakemake(tmp_path, config, "--keep-going", check=False)
    assert result.returncode != 0
    log = (tmp_path / f"results/logs/{broken.rule}" / broken.log.format(subject=bad)).read_text()
    for text in (f"sub-{bad}", *broken.expected):
        assert text.format(subject=bad) in log
    for output in broken.absent:
        assert not (tmp_path / output.format(subject=bad)).exists(), "partial output"
    for subject in good:
        for output in case.subject_outputs:
            assert (tmp_path / output.format(subject=subject)).is_file(), subject
    # (The group results of a run with given models: the missing-inputs test below.)
    assert not (tmp_path / layout.models_dir).exists()  # nothing was trained
    description = json.loads((tmp_path / layout.description_file).read_text())
    used = {(m["file"], m["sha256"]) for m in description["qmrflow"]["models"]}
    assert used == {(m["file"], m["sha256"]) for m in trained.values()}


@each_study
def test_the_declared_inputs_of_every_subject_are_the_demo_datasets_files(case, study_run):
    """Each study's required inputs (StudySpec.required_inputs), as for a user's dataset that
    trains every model, name the files the demo simulation wrote: none is missing."""
    from qmrflow.workflow.missing import find_missing

    run = study_run(case)
    config = case.tiny()
    config[case.name]["dataset"] = str(run / layout_of(case, config).root)
    layout = layout_of(case, config)
    assert layout.models_to_train and layout.subjects("train")
    assert find_missing([layout]) == []


@each_study
def test_a_users_missing_inputs_are_listed_up_front_then_stop_or_skip(case, study_run, tmp_path):
    """The demo dataset, copied as a user's own (valid BIDS, ``sub-`` ids, sidecar times in
    seconds) without its ground truth; one listed test subject's folder is missing. At start-up
    one table names the subject and the file it expected: by default (``missing_inputs:
    stop``) the run stops before any job; with ``skip`` the complete subjects run to the group
    results and the incomplete one is left out."""
    run = study_run(case)
    first = layout_of(case, case.tiny())
    dataset = tmp_path / "mydata"
    shutil.copytree(run / first.root, dataset, ignore=shutil.ignore_patterns("truth"))
    trained = {
        name: {
            "file": str(run / first.model_file(name)),
            "sha256": json.loads((run / first.model_metadata(name)).read_text())["sha256"],
        }
        for name in first.model_names
    }
    config = case.tiny()
    config[case.name]["dataset"] = str(dataset)
    config[case.name]["model"]["trained"] = trained
    missing, *present = first.subjects("test")
    shutil.rmtree(dataset / f"sub-{missing}")

    stopped = run_snakemake(tmp_path, config, check=False)
    assert stopped.returncode != 0
    table = stopped.stdout + stopped.stderr
    assert f"{case.name}" in table and "missing_inputs: stop" in table
    assert f"sub-{missing}" in table
    assert str(dataset / f"sub-{missing}") in table  # the file it expected
    assert not (tmp_path / "results").exists()  # before any job

    config["missing_inputs"] = "skip"
    warned = run_snakemake(tmp_path, config).stderr
    assert f"sub-{missing}" in warned and str(dataset / f"sub-{missing}") in warned
    assert not (tmp_path / "results/logs" / case.first_log.format(subject=missing)).exists()
    for subject in present:
        for output in case.subject_outputs:
            assert (tmp_path / output.format(subject=subject)).is_file(), subject
    for target in layout_of(case, config).targets():  # the group results, of the others
        assert (tmp_path / target).is_file(), target


@each_study
def test_a_config_error_stops_before_any_job(case, tmp_path):
    change, key = case.bad_config
    config = case.tiny()
    config[case.name] = merged(config[case.name], change)
    result = run_snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert key in result.stdout + result.stderr
    assert "config.yaml" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def report_contents(report: Path) -> tuple[dict, dict]:
    """The results (path -> caption, MIME type, ...) and the categories (category ->
    subcategory -> paths) a Snakemake HTML report embeds."""
    text = report.read_text()

    def variable(name: str) -> dict:
        match = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', text, re.S)
        assert match, f"{report} has no {name}"
        return json.loads(match.group(1))

    return variable("results"), variable("categories")


@each_study
def test_every_group_figure_has_a_caption_and_every_caption_an_output(case):
    """rules/<study>/report/ mirrors the study's group folder (rules/common.smk,
    report_outputs): ``group/figures/x.png`` has ``report/figures/x.rst``."""
    layout = layout_of(case, case.tiny())
    folder = REPO / "rules" / case.name / "report"
    captions = {path.relative_to(folder) for path in folder.rglob("*.rst")}

    def caption(path: str) -> Path:
        return Path(path).relative_to(layout.group).with_suffix(".rst")

    assert {caption(path) for path in layout.figures().values()} <= captions
    assert captions <= {
        caption(path) for path in [*layout.figures().values(), *layout.tables().values()]
    }


@pytest.fixture(scope="module")
def study_report(study_run, tmp_path_factory):
    """``study_report(case)``: ``snakemake --report report.html`` in a copy of the study's run,
    made once per module."""
    reports: dict[str, Path] = {}

    def make(case: StudyCase) -> Path:
        if case.name not in reports:
            workdir = tmp_path_factory.mktemp(f"{case.name}_report")
            shutil.copytree(study_run(case), workdir, symlinks=True, dirs_exist_ok=True)
            run_snakemake(workdir, case.tiny(), "--report", "report.html")
            reports[case.name] = workdir / "report.html"
        return reports[case.name]

    return make


@each_study
def test_the_report_holds_every_group_figure_and_table_with_a_caption(case, study_report):
    """Every group figure, the statistics and the paper comparison are in the report, in the
    study's category, each with a caption that gives the run's n and the paper's numbers."""
    results, categories = report_contents(study_report(case))
    layout = layout_of(case, case.tiny())
    tables, figures = layout.tables(), layout.figures()
    assert set(categories[case.name]["figures"]) == set(figures.values())
    reported = set(categories[case.name]["tables"])
    assert {tables["statistics"], tables["paper_comparison"]} <= reported <= set(tables.values())
    n = f"{len(layout.subjects('test'))} test subjects"
    for path in (*categories[case.name]["figures"], *reported):
        caption = results[path]["caption"]
        for text in ("<strong>Method.</strong>", "<strong>n</strong>", n, "<strong>Paper</strong>"):
            assert text in caption, (path, text)
        assert "system-message" not in caption, (path, caption)  # docutils' RST errors
    assert all(results[path]["mime_type"] == "image/png" for path in figures.values())


@pytest.fixture(scope="module")
def browser() -> str:
    """Debian's Chromium, installed when missing; the test is skipped where it cannot be."""
    try:
        return chromium()
    except PackagesUnavailable as error:
        pytest.skip(f"no Chromium to render the report: {error}")


@each_study
def test_the_report_shows_a_figure_and_its_caption_in_a_browser(
    case, study_report, browser, tmp_path
):
    """Headless Chromium opens the study's report at its first figure, as a reader's clicks
    would: no script error, the side bar names the study and shows the caption, and the window
    shows the decoded figure."""
    report = study_report(case)
    path = next(iter(layout_of(case, case.tiny()).figures().values()))
    page = show_result(report, tmp_path / f"{case.name}.html", path, case.name, "figures")
    sheet = contact_sheet({case.name: page}, tmp_path / "report.html")
    shown = render(browser, sheet, tmp_path / "report.png", size=REPORT_SIZE)

    errors = [line for line in shown.console if "Uncaught" in line]
    assert not errors, errors
    opened = shown.opened()
    assert set(opened) == {case.name}, "the report did not open its figure"
    window = np.asarray(Image.open(shown.screenshot).convert("RGB"))
    width, height = REPORT_SIZE
    assert window.shape[:2] == (height, width)
    results, _ = report_contents(report)
    text = opened[case.name]["text"]
    assert f"Results {case.name} figures {path}" in text  # the breadcrumbs
    assert visible_text(results[path]["caption"])[:200] in text
    assert opened[case.name]["shown"] == Image.open(report.parent / path).size
    content = window[:, 450:]  # beside the side bar
    assert (content.min(axis=2) < 230).mean() > 0.01, "the figure is blank"
    colours = np.unique(content.astype(np.int32) @ np.array([65536, 256, 1], np.int32))
    assert len(colours) > 32, "no figure in the window"
