"""Job entry points: what each workflow rule runs, with plain arguments.

The rules' scripts only map Snakemake's input/output/params onto these functions, so
every job can also be run and tested without Snakemake.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

from . import data as datasets
from . import probes, registry
from .models.fetch import fetch, read_manifest
from .models.load import load_fetched
from .models.spec import ModelSpec
from .logs import logged  # noqa: F401  (the rules' scripts use jobs.logged)
from .provenance import read_provenance, stable_hash, write_table
from .tables import write_csv

log = logging.getLogger("alignshift")


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def fetch_model(model_entry: dict, out_manifest: str, lock: str | None = None) -> None:
    """`model_entry`: the model's registry entry (ModelSpec.to_dict()). Hub weights go to
    huggingface_hub's standard cache; `lock`: the study's `hub_lock`."""
    model = ModelSpec.from_dict(model_entry)
    manifest = fetch(model, Path(out_manifest).parent, lock=lock)
    log.info("%s: revision %s at %s", model.name, manifest["revision"], manifest["path"])


def prepare_data(name: str, source: dict, out: str, lock: str | None = None) -> None:
    """`source`: the config's `datasets.<name>` entry (its loader and where it reads from);
    `lock`: the study's `hub_lock` file (read only; the `hub_lock` rule writes it)."""
    df = datasets.prepare(source, lock=lock)
    # a hub loader records the commit it resolved to in df.attrs; `hub` is what the
    # hub_lock rule reads
    revision = df.attrs.get("revision") or datasets.source_revision(source)
    hub = {"hub": df.attrs["hub"]} if "hub" in df.attrs else {}
    write_table(df, out, {"dataset": name, "source": source, "revision": revision, **hub})
    log.info("%s: %d rows", name, len(df))


def hub_lock(lock: str, manifests: list[str], tables: list[str]) -> None:
    """Merge the hub commits that fetches (model manifests) and hub data preparations
    (prepared tables' provenance) used into the study's lock file (alignshift.hub_lock)."""
    from .hub_lock import HubLock

    models = [(path, read_manifest(path).get("hub")) for path in manifests]
    data = [(path, read_provenance(path).get("hub")) for path in tables]
    for path, rec in models + data:
        if rec is None:  # written before outputs recorded their hub commit
            log.warning("%s records no hub commit: not locked (delete it and run again to lock it)", path)
    merged = HubLock(lock).merge({"models": models, "datasets": data})
    log.info("%s: %d models, %d datasets", lock, len(merged["models"]), len(merged["datasets"]))


def read_tables(paths: dict[str, str]) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(path) for name, path in paths.items()}


def plan_run(run_name: str, run: dict, recipe: dict, data_path: str, out: str) -> None:
    """A run's plan (alignshift.planning) from the rows it will train on: how many optimizer
    steps, which checkpoints; written before any training job is queued."""
    from . import finetune as ft, planning

    stances = pd.read_parquet(data_path)
    rows = ft.training_rows(recipe, stances, run["direction"])
    revision = read_provenance(data_path).get("revision", "unknown")
    plan = planning.run_plan(run_name, run, recipe, rows=rows, data_revision=revision)
    planning.write_plan(plan, out)
    log.info("%s: %d rows, %s epochs at %d x %d -> %d steps, checkpoints %s", run_name, rows, plan["epochs"],
             plan["batch"], plan["accumulation"], plan["max_steps"], plan["checkpoint_steps"])


def finetune(run_name: str, run: dict, recipe: dict, manifest_path: str, base_spec: dict, data_path: str,
             plan_path: str, out_dir: str, out_log: str, threads: int | None = None) -> None:
    """Train a run exactly as planned: its plan's max_steps, its plan's checkpoints."""
    from . import finetune as ft, planning

    set_threads(threads)
    manifest = read_manifest(manifest_path)
    base = ModelSpec.from_dict(base_spec)
    stances = pd.read_parquet(data_path)
    data_revision = read_provenance(data_path).get("revision", "unknown")
    plan = planning.read_plan(plan_path)
    rows = ft.training_rows(recipe, stances, run["direction"])
    recipe = planning.planned_recipe(run_name, run, recipe, plan, rows)
    work_dir = Path(out_dir).parent
    record = ft.train(manifest=manifest, spec=base, recipe=recipe, stances=stances, direction=run["direction"],
                      work_dir=work_dir, out_dir=Path(out_dir), steps=plan["checkpoint_steps"],
                      data_revision=data_revision)
    record["run"] = run_name
    record["plan"] = plan
    Path(out_log).write_text(json.dumps(record, indent=2, default=str))


def evaluate(model_spec: dict, probe_specs: dict[str, dict], manifest_path: str, data_paths: dict[str, str],
             outputs: dict[str, str], prompt_outputs: dict[str, str], adapter: str | None = None, seed: int = 0,
             threads: int | None = None, max_batch_tokens: int | None = None, cache_dir: str | None = None) -> None:
    """Score one model on one or more probes (the model is loaded once, and only if
    some probe's scores are not cached) and write one tidy table per probe, and beside
    it the prompts the model saw (`prompt_outputs`, probe -> path)."""
    import torch

    set_threads(threads)
    lm = load_fetched(manifest_path, model_spec, adapter=adapter)
    model = lm.spec
    for probe, spec in probe_specs.items():
        torch.manual_seed(seed)
        tables = read_tables({name: data_paths[name] for name in spec["datasets"]})
        cache = Path(cache_dir, f"{probe}.jsonl") if cache_dir else None
        evaluation = probes.run_with_prompts(probe, spec, tables, lm, cache=cache, max_batch_tokens=max_batch_tokens)
        scores = evaluation.scores
        identity = {"model": model.name, "model_id": model.id, "model_revision": lm.revision, "adapter": adapter,
                    "probe": probe, "probe_version": spec.get("version"), "probe_spec": spec,
                    "probe_hash": stable_hash(spec)}
        write_table(scores, outputs[probe], {
            **identity, "device": lm.device, "dtype": lm.dtype, "seed": seed,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "chat_template": model.chat_template,
            **({"slurm_job_id": os.environ["SLURM_JOB_ID"]} if "SLURM_JOB_ID" in os.environ else {}),
            "datasets": {name: read_provenance(data_paths[name]).get("revision") for name in spec["datasets"]},
        })
        # what the model saw, joined to the scores by prompt_hash (like lm-evaluation-harness's --log_samples)
        write_table(evaluation.prompts, prompt_outputs[probe], {**identity, "prompts": evaluation.settings})
        log.info("%s on %s: %d rows, %d prompts", probe, model.name, len(scores), len(evaluation.prompts))


def released_scores(model: str, probe: str, entry: dict, source: dict, spec: dict, tables: dict[str, str],
                    out: str) -> None:
    """A model's score table for one probe from its authors' released outputs
    (alignshift.data.released): downloaded at the pinned commit, checked against the
    recorded sha256, converted by the probe's converter into the rows an evaluation of
    the probe writes."""
    from .probes.released_outputs import released_scores as convert

    table, provenance = convert(model, probe, entry, source, spec, read_tables(tables))
    write_table(table, out, provenance)
    log.info("%s on %s: %d released rows from %d files at %s@%s", probe, model, len(table),
             len(provenance["files"]), provenance["repo"], provenance["commit"])


def run_stage(probe: str, stage: str, settings: dict, inputs: dict, outputs: dict[str, str], cache: str,
              threads: int | None = None) -> None:
    """A later stage a probe declares (`stages: [judging]` in its spec.yaml): the function
    `run(settings, inputs, outputs, cache)` of the probe's folder's module of the stage's
    name (probes/judge/judging.py; alignshift.probes.stages)."""
    set_threads(threads)
    probes.stage(probe, stage).run(settings, inputs, outputs, cache)


def load_scores(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def write_model_table(models: list[dict], out: str) -> None:
    """The study's model table (registry.model_table), written from the rule's params."""
    table = pd.DataFrame(models, columns=registry.MODEL_COLUMNS)
    write_csv(table, out)
    log.info("%d models -> %s", len(table), out)


def analyze(probe: str, spec: dict, models_path: str, score_paths: list[str], out: str, seed: int = 0) -> None:
    """A probe's metrics table: `probes/<probe>/metrics.py`'s `metrics(scores, models,
    spec, seed)`, each row annotated with its model's lineage."""
    models = registry.read_model_table(models_path)
    metrics = probes.metrics_module(probe).metrics(load_scores(score_paths), models, spec, seed=seed)
    write_metrics(annotate(metrics, models), out)
    log.info("%s: %d metric rows -> %s", probe, len(metrics), out)


def probe_tables(probe: str, spec: dict, models_path: str, score_paths: list[str], outputs: dict[str, str],
                 seed: int = 0) -> None:
    """A probe's further tables (its spec's `tables`): `tables(scores, models, spec, seed)`."""
    models = registry.read_model_table(models_path)
    tables = probes.metrics_module(probe).tables(load_scores(score_paths), models, spec, seed=seed)
    for name, path in outputs.items():
        table = tables[name]
        write_metrics(annotate(table, models) if "model" in table else table, path)
        log.info("%s %s: %d rows -> %s", probe, name, len(table), path)


def reference_orders(probe: str, spec: dict, models_path: str, score_paths: list[str], orders_path: str,
                     outputs: dict[str, str]) -> None:
    """A probe's orders against reference orders (`reference_tables(scores, models,
    spec, orders)` of its metrics module), e.g. country_rank against Gallup's."""
    models = registry.read_model_table(models_path)
    tables = probes.metrics_module(probe).reference_tables(load_scores(score_paths), models, spec,
                                                           pd.read_parquet(orders_path))
    for name, path in outputs.items():
        table = tables[name]
        write_metrics(annotate(table, models) if "model" in table else table, path)
        log.info("%s reference %s: %d rows -> %s", probe, name, len(table), path)


def write_metrics(table: pd.DataFrame, out: str) -> None:
    write_csv(table, out)


def annotate(metrics: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Add each model's lineage (run, step, stage, parent) to a metrics table."""
    if metrics.empty:
        return metrics
    return metrics.merge(models[["model", "run", "step", "stage", "parent"]], on="model", how="left")


def filter_posts(synth: str, entry: dict, teacher: dict, manifest_path: str, posts_path: str, out: str,
                 cache: str, threads: int | None = None) -> None:
    """PoliTune's first step: the teacher keeps the posts that express the ideology
    (alignshift.synthesis.run_filter)."""
    from . import synthesis

    set_threads(threads)
    synthesis.run_filter(synth, entry, teacher, manifest_path, posts_path, out, cache=cache)


def synthesize(synth: str, entry: dict, teacher: dict, manifest_path: str, filtered_path: str, out: str,
               out_phase1: str, cache_dir: str, threads: int | None = None) -> None:
    """PoliTune's preference set from the kept posts (alignshift.synthesis.run_synthesis)."""
    from . import synthesis

    set_threads(threads)
    synthesis.run_synthesis(synth, entry, teacher, manifest_path, filtered_path, out, cache_dir=cache_dir,
                            out_phase1=out_phase1)


def fetch_cfmatch(commit: str, out_dir: str, local: str | None = None) -> None:
    """CFMatch's classifier files of `commit` (downloaded, or copied from `local`), checked."""
    from . import cfmatch

    cfmatch.fetch_classifier(commit, Path(out_dir), local=local)


def report_config(config: dict, out: str) -> None:
    """The study's config as this run resolved it, for snakemake --report."""
    from .provenance import write_study_config

    write_study_config(config, out)


def report_versions(out: str) -> None:
    """The software versions of the job's own environment (its conda env under --use-conda)."""
    from .provenance import library_versions, write_versions

    write_versions(library_versions(), out)


def report_table(table: str, out: str) -> None:
    """One metrics table as an HTML page of the report."""
    from .report import metrics_table_html

    metrics_table_html(table, out)
