"""Adding a probe is adding one folder (docs/probes.md): in a copy of the project, a new
probe folder and a study config that names it run through the whole DAG (prepare the
data, evaluate the model, analyze) with no other file changed."""

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
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"),
                             "--directory", str(workdir), "--configfile", str(workdir / "study.yaml"), "--cores", "1"],
                            capture_output=True, text=True, env=env, timeout=900)
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
