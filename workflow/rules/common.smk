import re
from pathlib import Path

from alignshift import figures
from alignshift import probes
from alignshift import registry as reg

# The registry is built once, here; jobs receive what they need of it as params or
# through the model table (rule model_table), never the config itself.
REGISTRY = reg.build(config)
# helper models (a synthesis teacher, a judging model) set `evaluate: false`: fetched, not probed
MODELS = [name for name, spec in REGISTRY.items() if spec.evaluate]
# models whose scores come from their authors' released outputs (rule released_scores,
# workflow/rules/released.smk) instead of an evaluation: never fetched, never run
RELEASED = [name for name in MODELS if REGISTRY[name].released]
EVALUATED = [name for name in MODELS if name not in RELEASED]
FETCHED = [name for name, spec in REGISTRY.items() if not spec.adapter and name not in RELEASED]
RUNS = config.get("finetune") or {}
PROBES = list(config["probes"])
# every probe's resolved spec (its defaults with the config's overrides)
SPECS = {probe: probes.resolve_spec(probe, config["probes"][probe]) for probe in PROBES}
# what evaluation sees: workflow keys and later stages' settings are left out, so
# changing them never triggers rescoring
PROBE_SPECS = {probe: probes.evaluation_spec(spec) for probe, spec in SPECS.items()}
# the later stage each probe's metrics read (judging, cfmatch), if any
STAGES = {probe: probes.active_stage(spec) for probe, spec in SPECS.items()}
# one evaluation job per model (loads it once for every probe) or per (model, probe)
EVAL_PER_MODEL = (config.get("evaluation") or {}).get("job_per", "model") == "model"
MODEL_TABLE = "results/models.csv"
_unknown = sorted(set(config["figures"]) - set(figures.FIGURES))
if _unknown:
    raise ValueError(f"figures: unknown figure {_unknown[0]!r}; known: {sorted(figures.FIGURES)}")


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


def stage_probes(stage):
    return [probe for probe, active in STAGES.items() if active == stage]


def stage_settings(probe):
    return SPECS[probe][STAGES[probe]]


# a probe may check its settings against the study's models before any job runs (e.g. a
# later stage that names a helper model must name one of the study's)
for _probe, _spec in SPECS.items():
    probes.check(_probe, _spec, REGISTRY)


def dataset_input(spec):
    """A dataset's local files: its `path` (a `manual: true` one only once it is there) and
    any other setting naming a file (stances, wordings, a scoring table), so a changed
    file reruns its preparation."""
    path = spec.get("path")
    inputs = [] if not path or (spec.get("manual") and not Path(path).exists()) else [path]
    return inputs + [v for k, v in spec.items() if k not in ("loader", "path") and isinstance(v, str) and Path(v).is_file()]


def dataset_path(name):
    return f"results/data/{name}.parquet"


def probe_datasets(probe):
    return {name: dataset_path(name) for name in PROBE_SPECS[probe]["datasets"]}


def evaluated_probes(wildcards):
    return PROBES if EVAL_PER_MODEL else [wildcards.probe]


def evaluate_outputs():
    """Per-probe score tables and, beside each, the prompts the model saw
    (`prompts_<probe>`): all of a model's in one job, or one probe's per job."""
    if EVAL_PER_MODEL:
        return {**{probe: f"results/scores/{{model}}/{probe}.parquet" for probe in PROBES},
                **{f"prompts_{probe}": f"results/prompts/{{model}}/{probe}.parquet" for probe in PROBES}}
    return {"scores": "results/scores/{model}/{probe}.parquet", "prompts": "results/prompts/{model}/{probe}.parquet"}


def evaluate_inputs(wildcards):
    spec = REGISTRY[wildcards.model]
    inputs = {"manifest": manifest(wildcards.model)}
    for probe in evaluated_probes(wildcards):
        inputs.update(probe_datasets(probe))
    if spec.adapter:
        inputs["adapters"] = reg.adapters_dir(spec.run)
    return inputs


def scores(probe, models=None, stage=None):
    suffix = f".{stage}" if stage else ""
    return [f"results/scores/{m}/{probe}{suffix}.parquet" for m in (models or MODELS)]


def prompt_tables(probe, models=None, stage=None):
    """The prompts each score table of `scores(...)` was made from (results/prompts/)."""
    return [path.replace("results/scores/", "results/prompts/", 1) for path in scores(probe, models, stage)]


def recorded_prompts():
    """The prompts every evaluation and judging stage saw: targets of `all`, so results
    from before they were recorded get them (from the score cache, weights not loaded)."""
    return [f"results/prompts/{m}/{probe}.parquet" for probe in PROBES for m in EVALUATED] + [
        path for probe in stage_probes("judging") for path in prompt_tables(probe, stage="judging")]


def analysis_scores(probe):
    """What a probe's metrics read: its score tables, or its later stage's."""
    return scores(probe, stage=STAGES[probe])


def probe_tables(probe):
    """A probe's further metrics tables (its spec's `tables`), name -> path."""
    return {name: f"results/metrics/{probe}_{name}.csv" for name in SPECS[probe].get("tables") or ()}


def reference_orders(probe):
    """The dataset of reference orders a probe's analysis compares with (its spec's
    `analysis.reference_orders`; rule reference_orders_<probe>), or None."""
    return (SPECS[probe].get("analysis") or {}).get("reference_orders")


def all_targets():
    return [f"results/figures/{name}.{ext}" for name in config["figures"] for ext in ("pdf", "png")] + [
        f"results/metrics/{probe}_{table}.csv" for probe in PROBES if reference_orders(probe)
        for table in ("reference", "reference_ranks")] + [
        # the config and software versions shown by snakemake --report (workflow/rules/report.smk)
        "results/provenance/study.yaml",
        "results/provenance/versions.tsv",
    ] + recorded_prompts()
