"""The SLURM profile against the workflow's own rules: every rule with a `gpu` resource
(in the default study or any seed study, whose configs switch rules on) goes to the GPU
partition, and no placeholder account is set (tests/test_slurm.py runs it for real)."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

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
        found[str(cfg and cfg.name)] = {"gpu": sorted(r.name for r in rules if "gpu" in r.resources),
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
