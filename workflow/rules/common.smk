import re
from pathlib import Path

from alignshift import figures
from alignshift import registry as reg
from alignshift.probes import resolve_spec

REGISTRY = reg.build(config)
MODELS = list(REGISTRY)
FETCHED = [name for name, spec in REGISTRY.items() if not spec.adapter]
RUNS = config.get("finetune") or {}
PROBES = list(config["probes"])
PROBE_SPECS = {probe: resolve_spec(probe, config["probes"][probe]) for probe in PROBES}
# one evaluation job per model (loads it once for every probe) or per (model, probe)
EVAL_PER_MODEL = (config.get("evaluation") or {}).get("job_per", "model") == "model"


def one_of(names):
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "^$"


wildcard_constraints:
    model=one_of(MODELS),
    base=one_of(FETCHED),
    run=one_of(RUNS),
    probe=one_of(PROBES),
    dataset=one_of(config["datasets"]),
    figure=one_of(figures.FIGURES),


def manifest(model):
    return f"resources/models/{reg.root_model(REGISTRY, model)}/manifest.json"


def dataset_path(name):
    return f"results/data/{name}.parquet"


def probe_datasets(probe):
    return {name: dataset_path(name) for name in PROBE_SPECS[probe]["datasets"]}


def evaluated_probes(wildcards):
    return PROBES if EVAL_PER_MODEL else [wildcards.probe]


def evaluate_outputs():
    """Per-probe score tables: all of a model's in one job, or one per job."""
    if EVAL_PER_MODEL:
        return {probe: f"results/scores/{{model}}/{probe}.parquet" for probe in PROBES}
    return {"scores": "results/scores/{model}/{probe}.parquet"}


def evaluate_inputs(wildcards):
    spec = REGISTRY[wildcards.model]
    inputs = {"manifest": manifest(wildcards.model)}
    for probe in evaluated_probes(wildcards):
        inputs.update(probe_datasets(probe))
    if spec.adapter:
        inputs["adapters"] = reg.adapters_dir(spec.run)
    return inputs


def scores(probe, models=None):
    return [f"results/scores/{m}/{probe}.parquet" for m in (models or MODELS)]


def all_targets():
    return [f"results/figures/{name}.{ext}" for name in config["figures"] for ext in ("pdf", "png")]
