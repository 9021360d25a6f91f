import functools
import json
import re
from pathlib import Path

from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.io import checkpoint_target
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod

from alignshift import cfmatch as cfmatch_classifier
from alignshift import figures
from alignshift import planning
from alignshift import probes
from alignshift import recipes
from alignshift import registry as reg
from alignshift.probes import released_outputs as probe_converters
from alignshift.provenance import code_hash

RUNS = config.get("finetune") or {}
# runs whose training data needs a hand-provided dataset (`manual: true`) that is not there
# yet: left out of the targets, with one message saying what to provide
HELD_RUNS = planning.held_runs(config)
if HELD_RUNS:
    logger.warning(planning.held_message(HELD_RUNS, config))
ACTIVE_RUNS = [run for run in RUNS if run not in HELD_RUNS]
# every run's plan as known without its data (its step settings checked here, before any
# job): a fixed max_steps gives the whole plan; None: the recipe's epochs decide once the
# data is prepared (checkpoint plan_run, workflow/rules/finetune.smk)
STATIC_PLANS = {run: planning.run_plan(run, RUNS[run], reg.recipe(RUNS[run])) for run in RUNS}
# every recipe against the trl / peft config classes that will read it (alignshift/recipes.py)
for _run in RUNS:
    recipes.check(reg.recipe(RUNS[_run]), planning.run_label(_run, RUNS[_run]))
DATA_PLANNED = [run for run in ACTIVE_RUNS if STATIC_PLANS[run] is None]
# The registry is built once, here; jobs receive what they need of it as params or
# through the model table (rule model_table), never the config itself. It holds the
# checkpoints of fixed-step runs; those of data-planned runs join once planned
# (study_registry()).
REGISTRY = reg.build(config, plans={run: STATIC_PLANS[run] for run in ACTIVE_RUNS})
# helper models (a synthesis teacher, a judging model) set `evaluate: false`: fetched, not probed
MODELS = [name for name, model in REGISTRY.items() if model.evaluate]
# models whose scores come from their authors' released outputs (rule released_scores,
# workflow/rules/released.smk) instead of an evaluation: never fetched, never run
RELEASED = [name for name in MODELS if REGISTRY[name].released]
EVALUATED = [name for name in MODELS if name not in RELEASED]
FETCHED = [name for name, model in REGISTRY.items() if not model.adapter and name not in RELEASED]
PROBES = list(config["probes"])
# every probe's resolved spec (its defaults with the config's overrides)
SPECS = {probe: probes.resolve_spec(probe, config["probes"][probe]) for probe in PROBES}
# what evaluation sees: workflow keys and later stages' settings are left out, so
# changing them never triggers rescoring
PROBE_SPECS = {probe: probes.evaluation_spec(spec) for probe, spec in SPECS.items()}
# the later stage each probe's metrics read, if any (judging, cfmatch), as its module in
# the probe's folder declares it (alignshift.probes.stages): probe -> Stage, one rule each
# (workflow/rules/stages.smk)
STAGES = {probe: probes.stage(probe, name) for probe, spec in SPECS.items() if (name := probes.active_stage(spec))}
# one evaluation job per model (loads it once for every probe) or per (model, probe)
EVAL_PER_MODEL = (config.get("evaluation") or {}).get("job_per", "model") == "model"
MODEL_TABLE = "results/models.csv"
_unknown = sorted(set(config["figures"]) - set(figures.FIGURES))
if _unknown:
    raise ValueError(f"figures: unknown figure {_unknown[0]!r}; known: {sorted(figures.FIGURES)}")


# The code a job runs, as a param of its rule: editing it reruns those jobs and no others
# (Snakemake's rerun triggers include params). A figure job runs its figure's function;
# an evaluation, its probes' item builders; the analysis rules, their probe's metrics.
@functools.cache
def figure_code(name):
    return code_hash(figures.spec(name).draw)


@functools.cache
def probe_code(probe, part):
    """`part`: "items" (what an evaluation scores) or "metrics" (what the analysis computes)."""
    return code_hash(f"alignshift.probes.{probe}.{part}")


def one_of(names, planned_runs=()):
    """A wildcard pattern matching exactly `names` and any `<run>/step-<N>` of `planned_runs`."""
    alternatives = [re.escape(n) for n in sorted(names, key=len, reverse=True)]
    if planned_runs:
        runs = "|".join(re.escape(r) for r in sorted(planned_runs, key=len, reverse=True))
        alternatives.append(f"(?:{runs})/step-[1-9][0-9]*")
    return "|".join(alternatives) or "^$"


wildcard_constraints:
    model=one_of(MODELS, DATA_PLANNED),
    base=one_of(FETCHED),
    run=one_of(RUNS),
    probe=one_of(PROBES),
    dataset=one_of(config["datasets"]),
    figure=one_of(figures.FIGURES),


# --- checkpoints planned from their data (Snakemake's data-dependent checkpoints) ---------


def run_plan(run):
    """A run's plan: known at parse time for a fixed max_steps, else read once the
    checkpoint plan_run has written it; None until then."""
    if STATIC_PLANS[run] is not None:
        return STATIC_PLANS[run]
    try:
        return planning.read_plan(checkpoints.plan_run.get(run=run).output[0])
    except IncompleteCheckpointException:
        return None


_REGISTRIES = {}


def study_registry():
    """Every model of the study as far as its runs are planned (REGISTRY plus the
    checkpoints of data-planned runs whose plan exists), in registry order."""
    plans = {run: run_plan(run) for run in ACTIVE_RUNS}
    key = json.dumps(plans, sort_keys=True)
    if key not in _REGISTRIES:
        _REGISTRIES[key] = reg.build(config, plans=plans)
    return _REGISTRIES[key]


def study_models():
    return [name for name, model in study_registry().items() if model.evaluate]


def pending_plans():
    """The plans still to be made: an input of every job that needs the study's models,
    so it waits for them and is re-evaluated with the planned checkpoints (flagged as
    Snakemake flags an incomplete checkpoint's output, so that the placeholder itself
    never makes a job rerun)."""
    return [checkpoint_target(planning.plan_path(run)) for run in DATA_PLANNED if run_plan(run) is None]


def model_spec(name):
    """A model's ModelSpec: the registry's, or a planned checkpoint's built from its name."""
    return REGISTRY.get(name) or reg.checkpoint_of(REGISTRY, RUNS, name)


def run_data(run):
    """A run's training data; a run whose data needs a missing hand-provided dataset is
    refused here, when the DAG is built, before any job is queued."""
    if run in HELD_RUNS:
        missing = "; ".join(planning.missing_dataset(config, d, p) for d, p in HELD_RUNS[run].items())
        raise WorkflowError(f"finetune.{run}: its training data ({RUNS[run]['data']}) needs {missing}. "
                            f"{planning.HOW_TO_PROVIDE}.")
    return dataset_path(RUNS[run]["data"])


# checks run once the DAG is built, before the first job of a real run (never in a dry
# run): each takes the jobs due and returns a refusal or None. Hours of GPU work may come
# before the job that would fail, so the run stops before any job instead.
START_CHECKS = []


onstart:
    for _check in START_CHECKS:
        _refusal = _check(list(workflow.dag.needrun_jobs()))
        if _refusal:
            raise WorkflowError(_refusal)


def missing_probe_data(jobs):
    """A hand-provided dataset a due job needs but that is not there (e.g. MD3 for the
    dialect probes): planned, so a dry run shows the study; refused before a real run."""
    missing = sorted({job.wildcards.dataset for job in jobs
                      if job.rule.name == "prepare_data" and planning.missing_manual(config, job.wildcards.dataset)})
    if missing:
        reasons = "; ".join(planning.missing_dataset(config, d, planning.missing_manual(config, d)) for d in missing)
        return f"{reasons}. Jobs of this run need it. {planning.HOW_TO_PROVIDE}."


START_CHECKS.append(missing_probe_data)


def available_dataset(name):
    """A dataset's prepared table, for a job that cannot run without it: a hand-provided
    dataset that is missing is refused when the DAG is built, before any job is queued."""
    path = planning.missing_manual(config, name)
    if path:
        raise WorkflowError(f"{planning.missing_dataset(config, name, path)}. {planning.HOW_TO_PROVIDE}.")
    return dataset_path(name)


def manifest(model):
    return f"resources/models/{reg.root_model(model_spec(model))}/manifest.json"


def stage_probes(name):
    return [probe for probe, stage in STAGES.items() if stage.name == name]


def stage_settings(probe):
    """The settings group of the probe's later stage (e.g. the judge probe's `judging`)."""
    return SPECS[probe][STAGES[probe].name]


# a probe may check its settings against the study's models before any job runs (e.g. a
# later stage that names a helper model must name one of the study's)
for _probe, _spec in SPECS.items():
    probes.check(_probe, _spec, REGISTRY)


def dataset_input(source):
    """A dataset's local files, so a changed file reruns its preparation: its `path` (a
    `manual: true` one only once it is there), every file of a local directory it reads
    (`path` or `repo`: MD3's release, a hub dataset's local copy), and any other setting
    naming a file (stances, wordings, a scoring table)."""
    inputs = []
    for key, value in source.items():
        if key == "loader" or not isinstance(value, str):
            continue
        local = Path(value)
        if local.is_file():
            inputs.append(value)
        elif local.is_dir() and key in ("path", "repo"):
            inputs += sorted(str(f) for f in local.rglob("*") if f.is_file())
    return inputs


def dataset_path(name):
    return f"results/data/{name}.parquet"


def probe_datasets(probe):
    return {name: dataset_path(name) for name in PROBE_SPECS[probe]["datasets"]}


# a probe's hand-provided dataset that is not there yet: the study plans (a dry run shows
# it whole), and a real run that needs it is refused before its first job (START_CHECKS)
_missing_probe_data = sorted({name for probe in PROBES for name in PROBE_SPECS[probe]["datasets"]
                              if planning.missing_manual(config, name)})
if _missing_probe_data and workflow.is_main_process:
    logger.warning("; ".join(planning.missing_dataset(config, d, planning.missing_manual(config, d))
                             for d in _missing_probe_data)
                   + f": the probes that read it cannot run until it is there. {planning.HOW_TO_PROVIDE}.")


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
    model = model_spec(wildcards.model)
    if model.run in DATA_PLANNED:
        # a checkpoint planned from its data: its step must be one the plan saves (until the
        # plan exists, Snakemake makes it first and asks again)
        plan = planning.read_plan(checkpoints.plan_run.get(run=model.run).output[0])
        if model.step not in plan["checkpoint_steps"]:
            raise WorkflowError(f"{model.name}: run {model.run} saves steps {plan['checkpoint_steps']} "
                                f"({planning.plan_path(model.run)}), not step {model.step}")
    inputs = {"manifest": manifest(wildcards.model)}
    for probe in evaluated_probes(wildcards):
        inputs.update(probe_datasets(probe))
    if model.adapter:
        inputs["adapters"] = reg.adapters_dir(model.run)
    return inputs


def scores(probe, stage=None):
    """Every model's score tables of a probe (or of its per-model later stage), and the
    plans still to be made, whose checkpoints' tables join once planned."""
    suffix = f".{stage}" if stage else ""
    return [f"results/scores/{m}/{probe}{suffix}.parquet" for m in study_models()] + pending_plans()


def recorded_prompts():
    """The prompts every evaluation and every stage's helper model saw (the judge's):
    targets of `all`, so results from before they were recorded get them (from the score
    cache, weights not loaded); with the plans still to be made, whose checkpoints'
    prompts join once planned."""
    evaluated = [m for m in study_models() if m not in RELEASED]
    return [f"results/prompts/{m}/{probe}.parquet" for probe in PROBES for m in evaluated] + [
        stage.outputs()["prompts"] for stage in STAGES.values() if stage.records_prompts] + pending_plans()


def analysis_scores(probe):
    """What a probe's metrics read: its score tables, or its later stage's (one table for
    the study, or one per model)."""
    stage = STAGES.get(probe)
    if stage is None:
        return scores(probe)
    return scores(probe, stage=stage.name) if stage.per_model else [stage.outputs()["scores"]]


def probe_tables(probe):
    """A probe's further metrics tables (its spec's `tables`), name -> path."""
    return {name: f"results/metrics/{probe}_{name}.csv" for name in SPECS[probe].get("tables") or ()}


def reference_orders(probe):
    """The dataset of reference orders a probe's analysis compares with (its spec's
    `analysis.reference_orders`; rule reference_orders_<probe>), or None."""
    return (SPECS[probe].get("analysis") or {}).get("reference_orders")


def all_targets(wildcards=None):
    """What `all` builds (an input function: planned checkpoints' prompts join once planned)."""
    return [f"results/figures/{name}.{ext}" for name in config["figures"] for ext in ("pdf", "png")] + [
        f"results/metrics/{probe}_{table}.csv" for probe in PROBES if reference_orders(probe)
        for table in ("reference", "reference_ranks")] + [
        # the config and software versions shown by snakemake --report (workflow/rules/report.smk)
        "results/provenance/study.yaml",
        "results/provenance/versions.tsv",
    ] + recorded_prompts()


# ---- functions of the later .smk files (kept apart from their rules: snakemake --lint) ----
# released.smk: models scored by their authors

def released_inputs(wildcards):
    """The study's prepared datasets the job's probes' converters read (e.g. `countries`:
    the ranking is among the study's countries)."""
    names = {name for probe in evaluated_probes(wildcards)
             for name in probe_converters.needs(probe, config.get("released"))}
    return {name: dataset_path(name) for name in sorted(names)}


def released_outputs_of():
    """Like evaluation (`evaluation.job_per`): all of a model's probe tables in one job
    (one job per model: a study of 14 released models and 6 probes is 14 jobs, not 84), or
    one probe's per job."""
    if EVAL_PER_MODEL:
        return {probe: f"results/scores/{{model}}/{probe}.parquet" for probe in PROBES}
    return {"scores": "results/scores/{model}/{probe}.parquet"}


# stages.smk: the later stages probes declare (one rule per probe and stage)

def stage_inputs(probe, wildcards):
    """A stage job's inputs: the probe's score tables (the job's model's, or every
    model's), the manifests of the helper models it loads, and the files its download
    rule makes."""
    stage, settings = STAGES[probe], stage_settings(probe)
    own = f"results/scores/{wildcards.model}/{probe}.parquet" if stage.per_model else scores(probe)
    helpers = {name: manifest(model) for name, model in stage.helper_models(settings).items()}
    return {"scores": own, **helpers, **stage.downloads(settings)}


def stage_params(probe):
    """What workflow/scripts/stage.py hands the stage's `run` (a changed setting reruns
    its jobs). A stage with a script of its own reads only its inputs and gets none, so
    its jobs rerun only when those change (CFMatch's, as before stages were generic)."""
    stage, settings = STAGES[probe], stage_settings(probe)
    if stage.own_script:
        return {}
    return {"probe": probe, "stage": stage.name, "settings": settings, "cache": stage.cache_path(settings)}


def stage_threads(probe):
    """The config's `threads` entry the stage's job takes (one thread if it names none)."""
    return config["threads"][STAGES[probe].threads] if STAGES[probe].threads else 1


def stage_downloads():
    """Every file a stage's download rule makes (target `downloads`)."""
    return sorted({path for probe, stage in STAGES.items() for path in stage.downloads(stage_settings(probe)).values()})


def stages_unable_here():
    """probe -> why its stage's jobs cannot run in the Python that runs snakemake, where
    jobs run there (without --use-conda) and a stage's own environment has what this
    Python lacks (CFMatch's qa-metrics)."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return {}
    return {probe: message for probe, stage in STAGES.items() if (message := stage.missing_requirements())}


def unable_stage_jobs(jobs):
    # refused before any job when a job of such a stage is due
    for probe, message in UNABLE_STAGES.items():
        rule_name = STAGES[probe].rule(stage_settings(probe))
        due = sorted(str(job.output[0]) for job in jobs if job.rule.name == rule_name)
        if due:
            return f"{len(due)} {rule_name} job(s) are due ({due[0]}, ...). {message}"


# cfmatch.smk: CFMatch's classifier, which the cfmatch stage reads

def cfmatch_commit(probe):
    return cfmatch_classifier.classifier_commit(stage_settings(probe))


def cfmatch_local_files(wildcards):
    local = CFMATCH_LOCAL.get(wildcards.commit)
    return [str(p) for p in cfmatch_classifier.local_files(local).values()] if local else []


# report.smk: the report's tables

def metrics_tables():
    return [f"results/metrics/{table}.csv" for table in METRIC_TABLES]


def report_tables():
    return [f"results/report/tables/{table}.html" for table in METRIC_TABLES]


# hub_lock.smk: the study's hub lock file

def hub_lock_file():
    """`all`'s target: the study's lock file, if it has one and something from the hub to
    lock (a rehearsal's stand-ins and fixtures leave the study's lock file alone)."""
    return [config["hub_lock"]] if config.get("hub_lock") and any(HUB_LOCKED.values()) else []

