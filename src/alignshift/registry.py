"""The study's model registry: the config's models plus every fine-tuning checkpoint.

Checkpoints join the registry as `<run>/step-<N>` with the run's base model as parent,
so every probe and figure treats a public chat model and our own DPO checkpoint the
same way. The steps are known up front (the run's `save_steps` plus its last step), so
the DAG lists every checkpoint before training starts.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pandas as pd
import yaml

from .models.spec import ModelSpec
from .stats import lineage_root
from .tables import read_csv


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
    with open(path) as fh:
        base = yaml.safe_load(fh)
    return deep_merge(base, run.get("overrides") or {})


def checkpoint_steps(run: dict, root: str | Path = ".") -> list[int]:
    """The steps whose adapters a run saves: its save_steps and always its last step."""
    last = int(recipe(run, root)["training"]["max_steps"])
    save = run.get("save_steps", [])
    if isinstance(save, int):  # a cadence: every N optimizer steps
        save = range(save, last + 1, save)
    steps = sorted({int(s) for s in save if 0 < int(s) <= last} | {last})
    return steps


def adapters_dir(run: str) -> str:
    """Where a run's adapters go, one `step-<N>/` each."""
    return f"results/finetune/{run}/adapters"


def checkpoint_name(run: str, step: int) -> str:
    return f"{run}/step-{step}"


def build(config: dict, root: str | Path = ".") -> dict[str, ModelSpec]:
    """Every model the study evaluates, in config order, checkpoints after their run's base."""
    registry = {name: ModelSpec.from_config(name, entry) for name, entry in config["models"].items()}
    for run_name, run in (config.get("finetune") or {}).items():
        base = registry.get(run["base"])
        if base is None:
            raise KeyError(f"finetune.{run_name}.base: {run['base']!r} is not a model of the config")
        for step in checkpoint_steps(run, root):
            name = checkpoint_name(run_name, step)
            # everything of its base (prompting, prefill, loading) but what makes it a checkpoint
            registry[name] = dataclasses.replace(
                base, name=name, stage=run_name, parent=base.name, evaluate=True, released=None,
                adapter=f"{adapters_dir(run_name)}/step-{step}", run=run_name, step=step)
    return registry


def root_model(registry: dict[str, ModelSpec], name: str) -> str:
    """The model a checkpoint (or a public model's download) is fetched from."""
    spec = registry[name]
    return spec.parent if spec.adapter else name


def baseline(registry: dict[str, ModelSpec], name: str) -> str | None:
    """What a model's shift is measured against: a checkpoint's base model, a public
    model's parent when the parent is in the study, else none."""
    spec = registry[name]
    if spec.parent and spec.parent in registry:
        return spec.parent
    return None


MODEL_COLUMNS = ["model", "id", "stage", "parent", "baseline", "lineage_root", "run", "step", "direction", "lab",
                 "region", "home_country", "chat_template", "kind", "evaluated"]


def model_table(registry: dict[str, ModelSpec], runs: dict | None = None) -> pd.DataFrame:
    """The study's models, one row each in registry order: what every analysis and figure
    job knows of them (written once per study by the rule `model_table`)."""
    runs = runs or {}
    parents = {name: baseline(registry, name) for name in registry}
    rows = [{"model": s.name, "id": s.id, "stage": s.stage, "parent": s.parent or "",
             "baseline": parents[s.name] or "", "lineage_root": lineage_root(parents, s.name),
             "run": s.run or "", "step": s.step or 0, "direction": (runs.get(s.run) or {}).get("direction", ""),
             "lab": s.lab or "", "region": s.region or "", "home_country": s.home_country or "",
             "chat_template": s.chat_template, "kind": s.kind, "evaluated": s.evaluate}
            for s in registry.values()]
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def read_model_table(path: str) -> pd.DataFrame:
    """The model table as written, with empty text fields as empty strings."""
    text = ["model", "id", "stage", "parent", "baseline", "lineage_root", "run", "direction", "lab", "region",
            "home_country", "kind"]
    return read_csv(path, text=text)


def baselines(models: pd.DataFrame) -> dict[str, str | None]:
    """model -> what its shift is measured against (None for a model without one)."""
    return {m: (b or None) for m, b in zip(models["model"], models["baseline"])}
