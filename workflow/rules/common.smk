import re
from pathlib import Path

from alignshift import cfmatch as cfmatch_classifier
from alignshift import figures
from alignshift import registry as reg
from alignshift.probes import evaluation_spec, resolve_spec

REGISTRY = reg.build(config)
# helper models (a synthesis teacher, a judge) set `evaluate: false`: fetched, not probed
MODELS = [name for name, spec in REGISTRY.items() if spec.extra.get("evaluate", True)]
FETCHED = [name for name, spec in REGISTRY.items() if not spec.adapter]
RUNS = config.get("finetune") or {}
PROBES = list(config["probes"])
# what evaluation sees: analysis-only settings are left out, so they never trigger rescoring
PROBE_SPECS = {probe: evaluation_spec(resolve_spec(probe, config["probes"][probe])) for probe in PROBES}
# CFMatch judges extractive_qa answers in a rule of its own (workflow/rules/cfmatch.smk)
CFMATCH = config.get("cfmatch") or {}
CFMATCH_COMMIT = CFMATCH.get("commit", cfmatch_classifier.DEFAULT_COMMIT)
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


# the judge probe's judging stage (workflow/rules/judge.smk)
JUDGING = resolve_spec("judge", config["probes"]["judge"])["judging"] if "judge" in PROBES else {}
if JUDGING and JUDGING.get("model") not in REGISTRY:
    raise ValueError(f"probes.judge.judging.model: {JUDGING.get('model')!r} is not a model of this study; "
                     f"known: {sorted(REGISTRY)}")


def dataset_input(spec):
    path = spec.get("path")
    if not path or (spec.get("manual") and not Path(path).exists()):
        return []
    return path


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


def analysis_scores(probe):
    """What a probe's analysis reads: its score tables, or the tables of its later
    stage: the judge's scores of the judge probe's answers, extractive_qa's answers
    with a `cfmatch` column when CFMatch is enabled."""
    if probe == "judge":
        return scores("judge_scored")
    if probe == "extractive_qa" and CFMATCH.get("enabled"):
        return scores("extractive_qa_cfmatch")
    return scores(probe)


def all_targets():
    return [f"results/figures/{name}.{ext}" for name in config["figures"] for ext in ("pdf", "png")] + [
        # the config and software versions shown by snakemake --report (workflow/rules/report.smk)
        "results/provenance/study.yaml",
        "results/provenance/versions.tsv",
    ]
