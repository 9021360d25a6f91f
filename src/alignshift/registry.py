"""The study's model registry: the config's models plus every fine-tuning checkpoint.

Checkpoints join the registry as `<run>/step-<N>` with the run's base model as parent,
so every probe and figure treats a public chat model and our own DPO checkpoint the
same way. Their steps are the run's plan (`alignshift.planning`: its `save_steps` plus
its last step): known up front for a fixed `max_steps`, once the data is prepared for a
recipe with `epochs`.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pandas as pd

from . import planning
from .models.spec import ModelSpec
from .tables import read_csv
from .yaml_files import read_yaml


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def recipe(run: dict, root: str | Path = ".") -> dict:
    """A run's training recipe: the recipe YAML with the run's `overrides` merged in."""
    path = Path(root) / run["recipe"]
    if not path.exists():
        raise FileNotFoundError(f"recipe {path} (named by a finetune run) does not exist")
    base = read_yaml(path, "recipe")
    return deep_merge(base, run.get("overrides") or {})


def adapters_dir(run: str) -> str:
    """Where a run's adapters go, one `step-<N>/` each."""
    return f"results/finetune/{run}/adapters"


def checkpoint_name(run: str, step: int) -> str:
    return f"{run}/step-{step}"


def checkpoint_spec(base: ModelSpec, run: str, step: int) -> ModelSpec:
    """A run's checkpoint: everything of its base (prompting, prefill, loading) but what
    makes it a checkpoint."""
    return dataclasses.replace(base, name=checkpoint_name(run, step), stage=run, parent=base.name, evaluate=True,
                               released=None, adapter=f"{adapters_dir(run)}/step-{step}", run=run, step=step)


def checkpoint_of(registry: dict[str, ModelSpec], runs: dict, name: str) -> ModelSpec:
    """The spec of checkpoint `<run>/step-<N>` from its name alone (a run's checkpoints
    planned from its data are not in the registry built when the study is parsed)."""
    run, _, step = name.rpartition("/step-")
    if run not in runs or not step.isdigit() or int(step) < 1:
        raise KeyError(f"{name!r} is neither a model of the study nor a checkpoint <run>/step-<N> of one of its "
                       f"runs {sorted(runs)}")
    return checkpoint_spec(registry[runs[run]["base"]], run, int(step))


def build(config: dict, root: str | Path = ".", plans: dict[str, dict | None] | None = None) -> dict[str, ModelSpec]:
    """Every model the study evaluates, in config order, each run's checkpoints after its
    base. `plans`: run -> its plan (alignshift.planning), None while a run whose steps
    follow its data is not planned yet; a run not in `plans` gets no checkpoints. By
    default every run's plan as known without its data (every run's step settings are
    checked on the way)."""
    # a model's `label` is how figures name it, not what it is: kept out of its spec, so
    # renaming a model in the figures never reruns its evaluation (see `labels`)
    registry = {name: ModelSpec.from_config(name, entry)
                for name, entry in config["models"].items()}
    runs = config.get("finetune") or {}
    for run_name, run in runs.items():
        if run["base"] not in registry:
            raise KeyError(f"finetune.{run_name}.base: {run['base']!r} is not a model of the config")
    if plans is None:
        plans = {name: planning.run_plan(name, run, recipe(run, root)) for name, run in runs.items()}
    for run_name, run in runs.items():
        plan = plans.get(run_name)
        for step in plan["checkpoint_steps"] if plan else ():
            checkpoint = checkpoint_spec(registry[run["base"]], run_name, step)
            registry[checkpoint.name] = checkpoint
    return registry


def root_model(model: ModelSpec) -> str:
    """The model a checkpoint (or a public model's download) is fetched from."""
    return model.parent if model.adapter else model.name


def baseline(registry: dict[str, ModelSpec], name: str) -> str | None:
    """What a model's shift is measured against: a checkpoint's base model, a public
    model's parent when the parent is in the study, else none."""
    parent = registry[name].parent
    if parent and parent in registry:
        return parent
    return None


def lineage_root(baselines: dict[str, str | None], model: str) -> str:
    """The first model of a model's lineage (its base), following parents."""
    seen = {model}
    while baselines.get(model) and baselines[model] not in seen:
        model = baselines[model]
        seen.add(model)
    return model


MODEL_COLUMNS = ["model", "label", "id", "stage", "parent", "baseline", "lineage_root", "run", "step", "direction",
                 "lab", "region", "home_country", "chat_template", "kind", "evaluated"]


def labels(config: dict) -> dict[str, str]:
    """model -> the name figures print (its `label` in the study, e.g. the paper's)."""
    return {name: entry["label"] for name, entry in config["models"].items() if entry.get("label")}


def model_table(registry: dict[str, ModelSpec], runs: dict | None = None,
                labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The study's models, one row each in registry order: what every analysis and figure
    job knows of them (written once per study by the rule `model_table`); `labels`: the
    names figures print, the model's name where none is given."""
    runs, labels = runs or {}, labels or {}
    parents = {name: baseline(registry, name) for name in registry}
    rows = [{"model": s.name, "label": labels.get(s.name) or s.name, "id": s.id, "stage": s.stage, "parent": s.parent or "",
             "baseline": parents[s.name] or "", "lineage_root": lineage_root(parents, s.name),
             "run": s.run or "", "step": s.step or 0, "direction": (runs.get(s.run) or {}).get("direction", ""),
             "lab": s.lab or "", "region": s.region or "", "home_country": s.home_country or "",
             "chat_template": s.chat_template, "kind": s.kind, "evaluated": s.evaluate}
            for s in registry.values()]
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def read_model_table(path: str) -> pd.DataFrame:
    """The model table as written, with empty text fields as empty strings."""
    text = ["model", "label", "id", "stage", "parent", "baseline", "lineage_root", "run", "direction", "lab", "region",
            "home_country", "kind"]
    return read_csv(path, text=text)


def baselines(models: pd.DataFrame) -> dict[str, str | None]:
    """model -> what its shift is measured against (None for a model without one)."""
    return {m: (b or None) for m, b in zip(models["model"], models["baseline"])}
