"""Adding a probe is adding one folder (docs/probes.md): in a copy of the project, a new
probe folder and a study config that names it run through the whole DAG (prepare the
data, evaluate the model, analyze) with no other file changed; a later stage is one
more file in that folder, run by the generic stage rules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO

# what the workflow needs of the project: its Snakefile, rules, schemas and scripts,
# configs, shipped data, the package, and what the conda environments are written from
PROJECT = ["Snakefile", "workflow", "config", "data", "src", "envs", "constraints.txt", "pyproject.toml"]

SPEC = """\
version: 1
datasets: [countries]
question: "Is {country} a country?"
max_countries: 5
"""

ITEMS = '''\
"""is_country: the likelihood of " Yes" against " No" after "Is <country> a country?"."""

import pandas as pd

from alignshift.probes.protocol import LOG_LIKELIHOOD

KINDS = (LOG_LIKELIHOOD,)


def build(spec, tables, fmt):
    countries = tables["countries"]["country"].head(spec["max_countries"]).tolist()
    return pd.DataFrame([{"item": c, "variant": "", "candidate": answer, "continuation": " " + answer,
                          "prompt": fmt(spec["question"].format(country=c))}
                         for c in countries for answer in ("Yes", "No")])
'''

METRICS = '''\
"""is_country: per model, the share of countries for which " Yes" is the likelier answer."""

import pandas as pd


def metrics(scores, models, spec, seed=0):
    wide = scores.pivot_table(index=["model", "item"], columns="candidate", values="logprob_sum").reset_index()
    wide["yes"] = (wide["Yes"] > wide["No"]).astype(float)
    return wide.groupby("model", as_index=False).agg(yes_share=("yes", "mean"), n_items=("item", "count"))
'''

# a later stage: one job per model on its score table, its settings a group of its name
STAGE_SPEC = """\
stages: [review]
review:
  reviewer: "a test"
"""

STAGE = '''\
"""is_country's `review` stage: each model's score rows, marked with their reviewer."""

import pandas as pd

from alignshift.provenance import read_provenance, write_table

JOB_PER = "model"


def run(settings, inputs, outputs, cache):
    scores = pd.read_parquet(inputs["scores"])
    write_table(scores.assign(reviewer=settings["reviewer"]), outputs["scores"], read_provenance(inputs["scores"]))
'''


def copy_project(to: Path) -> Path:
    to.mkdir()
    for name in PROJECT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, to / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, to / name)
    return to


def test_a_new_probe_folder_runs_through_the_workflow(tiny_model_dir, tmp_path):
    project = copy_project(tmp_path / "project")
    folder = project / "src" / "alignshift" / "probes" / "is_country"
    folder.mkdir()
    (folder / "spec.yaml").write_text(SPEC)
    (folder / "items.py").write_text(ITEMS)
    (folder / "metrics.py").write_text(METRICS)
    study = {
        "seed": 1, "threads": {"finetune": 1, "evaluate": 1},
        "models": {"tiny": {"id": str(tiny_model_dir), "stage": "pt", "chat_template": True, "dtype": "float32"}},
        "datasets": {"countries": {"loader": "countries", "path": str(project / "data/country_rank/countries.csv")}},
        "finetune": {}, "probes": {"is_country": {}}, "figures": [],
    }
    workdir = tmp_path / "study"
    workdir.mkdir()
    (workdir / "study.yaml").write_text(yaml.safe_dump(study))
    # the copy's package first on the path, as an editable install of the copy would be
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

    def snakemake(*args):
        return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"),
                               "--directory", str(workdir), "--configfile", str(workdir / "study.yaml"), *args],
                              capture_output=True, text=True, env=env, timeout=900)

    result = snakemake("--cores", "1")
    assert result.returncode == 0, result.stderr[-4000:]
    # the job ran the copy's probe: five countries, two answers each, scored by the shared scorer
    scores = pd.read_parquet(workdir / "results" / "scores" / "tiny" / "is_country.parquet")
    assert len(scores) == 10 and set(scores["candidate"]) == {"Yes", "No"}
    assert scores["logprob_sum"].lt(0).all() and scores["n_tokens"].ge(1).all()
    countries = pd.read_csv(project / "data/country_rank/countries.csv")["country"].head(5).tolist()
    assert sorted(scores["item"].unique()) == sorted(countries)
    # and its metrics, from those scores
    metrics = pd.read_csv(workdir / "results" / "metrics" / "is_country.csv")
    assert metrics["model"].tolist() == ["tiny"] and metrics["n_items"].tolist() == [5]
    by_item = scores.pivot_table(index="item", columns="candidate", values="logprob_sum")
    assert metrics["yes_share"].iloc[0] == (by_item["Yes"] > by_item["No"]).mean()

    # a stage declared in the folder: planned by the generic stage rule under its default
    # name, on the model's scores, and read by the analysis; a stage's settings never
    # reach the evaluation, so it is not rerun
    (folder / "spec.yaml").write_text(SPEC + STAGE_SPEC)
    (folder / "review.py").write_text(STAGE)
    plan = snakemake("-n")
    assert plan.returncode == 0, plan.stderr[-4000:]
    assert "rule review_is_country:" in plan.stdout and "rule evaluate:" not in plan.stdout, plan.stdout[-4000:]
    assert "input: results/scores/tiny/is_country.review.parquet, results/models.csv" in plan.stdout
    result = snakemake("--cores", "1")
    assert result.returncode == 0, result.stderr[-4000:]
    reviewed = pd.read_parquet(workdir / "results" / "scores" / "tiny" / "is_country.review.parquet")
    assert (reviewed["reviewer"] == "a test").all() and len(reviewed) == 10
    assert (workdir / "results" / "logs" / "review" / "tiny" / "is_country.log").exists()
    assert pd.read_csv(workdir / "results" / "metrics" / "is_country.csv").equals(metrics)


def test_a_probe_declares_its_kinds_and_has_their_hooks():
    from types import SimpleNamespace

    from alignshift.probes import ProbeError
    from alignshift.probes.protocol import GENERATION, LOG_LIKELIHOOD, read_protocol

    def build(spec, tables, fmt):
        return None

    both = read_protocol("p", SimpleNamespace(KINDS=(LOG_LIKELIHOOD, GENERATION), build=build, generate=build))
    assert both.kinds == (LOG_LIKELIHOOD, GENERATION) and not both.generates_only and both.build_reward is None
    for module, message in ((SimpleNamespace(build=build), "must set KINDS"),
                            (SimpleNamespace(KINDS=("sampling",), build=build), "unknown"),
                            (SimpleNamespace(KINDS=(GENERATION,)), "has no generate"),
                            (SimpleNamespace(KINDS=(LOG_LIKELIHOOD,), build=build, generate=build), "defines generate")):
        with pytest.raises(ProbeError, match=message):
            read_protocol("p", module)


def test_a_probe_folder_part_is_imported_one_way_and_a_missing_one_is_named():
    from alignshift.probes import ProbeError
    from alignshift.probes.folders import PROBE_DIR, probe_module

    assert probe_module("judge", "metrics").__name__ == "alignshift.probes.judge.metrics"
    # an optional part (released-output converters) a probe does not have
    assert probe_module("judge", "released", optional=True) is None
    with pytest.raises(ProbeError, match=f"probe judge: {PROBE_DIR / 'judge'} has no released.py"):
        probe_module("judge", "released")


def test_a_stage_declares_its_job_and_how_it_runs():
    from types import SimpleNamespace

    from alignshift.probes import ProbeError, stage
    from alignshift.probes.stages import read_stage

    def run(settings, inputs, outputs, cache):
        return None

    plain = read_stage("p", "check", SimpleNamespace(__name__="alignshift.probes.p.check", run=run))
    assert (plain.rule({}), plain.job_per, plain.script, plain.conda_env) == ("check_p", "study", "stage.py", "cpu")
    assert plain.outputs() == {"scores": "results/scores/p.check.parquet"} and plain.log() == "results/logs/check/p.log"
    assert plain.helper_models({}) == {} and plain.resources({}) == {} and plain.cache_path({}) is None
    for module, message in ((SimpleNamespace(), "has no run"),
                            (SimpleNamespace(run=run, JOB_PER="item"), "JOB_PER must be one of"),
                            (SimpleNamespace(run=run, JOB_PER="model", RECORDS_PROMPTS=True), "RECORDS_PROMPTS")):
        with pytest.raises(ProbeError, match=message):
            read_stage("p", "check", SimpleNamespace(__name__="alignshift.probes.p.check", **vars(module)))
    # the two stages of the package, as the workflow reads them
    judging, cfmatch = stage("judge", "judging"), stage("extractive_qa", "cfmatch")
    local = {"backend": "local", "model": "m"}
    assert judging.rule(local) == "judging_judge" and judging.resources(local)["gpu"] == 1
    api = {"backend": "openai", "api": {"model": "gpt-4"}}
    assert judging.rule(api) == "judging_judge_api" and "gpu" not in judging.resources(api)
    assert judging.outputs() == {"scores": "results/scores/judge.judging.parquet",
                                 "prompts": "results/prompts/judge.judging.parquet"}
    assert cfmatch.rule({}) == "cfmatch" and cfmatch.per_model and cfmatch.script == "cfmatch.py"
    assert cfmatch.outputs() == {"scores": "results/scores/{model}/extractive_qa.cfmatch.parquet"}
    assert cfmatch.downloads({"commit": "abc"}) == {"classifier": "resources/cfmatch/abc/classifier.json"}
