"""How long each fine-tuning run trains and which checkpoints it keeps: its plan.

A run trains either a fixed `training.max_steps` (known when the study is parsed) or, with
the recipe's `epochs`, that many passes over its data, counted as torchtune counts them
(`finetune.released_steps`): known only once the data is prepared. Both get the same plan
(`run_plan`), written by the workflow's `plan_run` checkpoint to
`results/finetune/<run>/plan.json` (rows, epochs, batch, accumulation, max_steps, the
checkpoint steps, the data's revision); a fixed-step run's plan is simply known without
the data, so the whole DAG lists its checkpoints up front, while a data-planned run's
checkpoints join the DAG once its plan exists (Snakemake's data-dependent checkpoints).
Every step setting is checked here, at planning time, before any GPU job is queued.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .finetune import released_steps

# HF TrainingArguments' defaults, used when a recipe sets neither
DEFAULT_BATCH = 8
DEFAULT_ACCUMULATION = 1


class PlanError(ValueError):
    """A run's step settings, data or plan are unusable; the message names the run and what to do."""


def plan_path(run: str) -> str:
    return f"results/finetune/{run}/plan.json"


def run_label(name: str, run: dict) -> str:
    return f"finetune.{name} (recipe {run.get('recipe')})"


def _positive_int(value, what: str, where: str) -> int:
    # bool is an int to Python; a step count of `true` is a typo
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlanError(f"{where}: {what} must be a positive whole number, not {value!r}")
    return value


def step_settings(name: str, run: dict, recipe: dict) -> dict:
    """A run's step settings, checked: `epochs` or `training.max_steps` (exactly one),
    the micro-batch, the accumulation and `save_steps` (a list or a cadence)."""
    where = run_label(name, run)
    training = recipe.get("training") or {}
    epochs, max_steps = recipe.get("epochs"), training.get("max_steps")
    if "num_train_epochs" in training:
        raise PlanError(f"{where}: training.num_train_epochs is not used (HF rounds a partial accumulation group "
                        f"up): set the recipe's `epochs` instead, whose steps are planned from the data")
    if epochs is not None and max_steps is not None:
        raise PlanError(f"{where}: sets both epochs ({epochs!r}) and training.max_steps ({max_steps!r}); the "
                        f"step count comes from one of them: remove training.max_steps to train {epochs!r} "
                        f"epochs (steps planned from the data), or set this run's `overrides: {{epochs: null}}` "
                        f"to train a fixed max_steps")
    if epochs is None and max_steps is None:
        raise PlanError(f"{where}: neither epochs nor training.max_steps is set: set one of them")
    if epochs is not None:
        _positive_int(epochs, "epochs", where)
    else:
        _positive_int(max_steps, "training.max_steps", where)
    batch = _positive_int(training.get("per_device_train_batch_size", DEFAULT_BATCH),
                          "training.per_device_train_batch_size", where)
    accumulation = _positive_int(training.get("gradient_accumulation_steps", DEFAULT_ACCUMULATION),
                                 "training.gradient_accumulation_steps", where)
    save = run.get("save_steps", [])
    if isinstance(save, list):
        for step in save:
            _positive_int(step, "each of save_steps", where)
    else:
        _positive_int(save, "save_steps (a list of steps, or a cadence N)", where)
    return {"epochs": epochs, "max_steps": max_steps, "batch": batch, "accumulation": accumulation,
            "save_steps": save}


def planning_recipe(recipe: dict) -> dict:
    """The part of a recipe a plan depends on: the method and format (which columns are
    trained), `epochs` and the training keys that count steps."""
    keys = ("max_steps", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps")
    training = recipe.get("training") or {}
    return {**{k: recipe[k] for k in ("method", "format", "epochs") if k in recipe},
            "training": {k: training[k] for k in keys if k in training}}


def checkpoint_steps(save_steps, last: int) -> list[int]:
    """The steps whose adapters a run saves: its `save_steps` (a list, or a cadence N:
    every N optimizer steps) up to its last step, and always the last step."""
    if isinstance(save_steps, int):
        save_steps = range(save_steps, last + 1, save_steps)
    return sorted({int(s) for s in save_steps or () if 0 < int(s) <= last} | {last})


def run_plan(name: str, run: dict, recipe: dict, rows: int | None = None,
             data_revision: str | None = None) -> dict | None:
    """A run's plan. A fixed-step run's is known without its data (`rows` None); a run
    with `epochs` needs its training rows and returns None without them. Refuses data
    too small for one optimizer step."""
    settings = step_settings(name, run, recipe)
    epochs, batch, accumulation = settings["epochs"], settings["batch"], settings["accumulation"]
    if epochs is None:
        max_steps = settings["max_steps"]
    elif rows is None:
        return None
    else:
        max_steps = released_steps(rows, epochs, batch, accumulation)
        if max_steps < 1:
            raise PlanError(
                f"{run_label(name, run)}: its data ({run.get('data')}) has {rows} training rows; at a micro-batch of "
                f"{batch} accumulated {accumulation} times, {epochs} epochs give no optimizer step "
                f"({epochs} x (ceil({rows}/{batch}) // {accumulation}) = 0; one step needs at least "
                f"{batch * (accumulation - 1) + 1} rows): provide more data or lower the batch")
    if rows is not None and rows < 1:
        raise PlanError(f"{run_label(name, run)}: its data ({run.get('data')}) has no training rows")
    return {"run": name, "recipe": run.get("recipe"), "data": run.get("data"), "rows": rows,
            "data_revision": data_revision, "epochs": epochs, "batch": batch, "accumulation": accumulation,
            "max_steps": max_steps, "checkpoint_steps": checkpoint_steps(settings["save_steps"], max_steps)}


def write_plan(plan: dict, out: str | Path) -> None:
    Path(out).write_text(json.dumps(plan, indent=2) + "\n")


def read_plan(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def planned_recipe(name: str, run: dict, recipe: dict, plan: dict, rows: int) -> dict:
    """The recipe a run trains: its `training.max_steps` the plan's. The plan is made again
    from the recipe and the rows the job really has; any disagreement (a stale plan, a
    changed recipe or data) stops the job rather than train another count."""
    again = run_plan(name, run, recipe, rows=rows, data_revision=plan.get("data_revision"))
    fields = ("rows", "epochs", "batch", "accumulation", "max_steps", "checkpoint_steps")
    differ = [f for f in fields if again[f] != plan.get(f)]
    if differ:
        raise PlanError(
            f"{run_label(name, run)}: its plan ({plan_path(name)}) does not match what the job would train: "
            + ", ".join(f"{f} {plan.get(f)!r} planned, {again[f]!r} now" for f in differ)
            + f". Plan it again (snakemake --forcerun plan_run {plan_path(name)}) and rerun")
    out = copy.deepcopy(recipe)
    out.setdefault("training", {})["max_steps"] = plan["max_steps"]
    return out


# --- runs whose data is not there yet ------------------------------------------------------

def data_sources(config: dict, data: str) -> list[str]:
    """The config datasets a run's `data` is built from: a synthesized set's (`<name>` or
    `<name>.phase1`) posts, or the dataset itself."""
    synthesis = config.get("synthesis") or {}
    name = data.removesuffix(".phase1") if data.removesuffix(".phase1") in synthesis else data
    if name in synthesis:
        return [synthesis[name]["posts"]]
    return [data]


def missing_manual(config: dict, dataset: str) -> str | None:
    """The path of a hand-provided dataset (`manual: true`) that is not there yet, else None."""
    spec = (config.get("datasets") or {}).get(dataset) or {}
    path = spec.get("path")
    return path if spec.get("manual") and path and not Path(path).exists() else None


def held_runs(config: dict) -> dict[str, dict[str, str]]:
    """Runs whose training data needs a hand-provided dataset that is missing:
    run -> {dataset: path}. They stay out of the study's targets until it is there."""
    held = {}
    for name, run in (config.get("finetune") or {}).items():
        missing = {d: p for d in data_sources(config, run["data"]) if (p := missing_manual(config, d))}
        if missing:
            held[name] = missing
    return held


HOW_TO_PROVIDE = ("Put each file there in its loader's format (data/README.md; posts: one JSON object per line "
                  "with `id` and `text`), or point datasets.<name>.path at your copy")


def missing_dataset(config: dict, dataset: str, path: str) -> str:
    loader = config["datasets"][dataset].get("loader")
    return f"datasets.{dataset}.path: {path} does not exist (a `{loader}` dataset provided by hand, `manual: true`)"


def held_message(held: dict[str, dict[str, str]], config: dict) -> str:
    """One message for every held run: what is missing, where it goes, in what format."""
    missing = {}
    for run, datasets in held.items():
        for dataset, path in datasets.items():
            missing.setdefault((dataset, path), []).append(run)
    lines = [f"finetune: {len(held)} run(s) are left out of this study's targets until their training data is "
             f"there (planning refuses them, so no job is queued for them):"]
    lines += [f"  - {missing_dataset(config, dataset, path)}, needed by {', '.join(sorted(runs))}"
              for (dataset, path), runs in missing.items()]
    lines.append(f"{HOW_TO_PROVIDE}; the runs then join the targets.")
    return "\n".join(lines)
