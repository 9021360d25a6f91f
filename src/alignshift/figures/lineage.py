"""Which models a figure shows, in what order, under what name."""

from __future__ import annotations

import pandas as pd


def is_true(column: pd.Series) -> pd.Series:
    """A boolean column read back from CSV (bools, or the strings True/False)."""
    return column.astype(str).str.lower() == "true"


def model_order(metrics: pd.DataFrame, *, final_checkpoints: bool = False) -> list[str]:
    """The models of a metrics table in table order (the config's: each lineage base ->
    sft -> pt, then the runs' checkpoints); with `final_checkpoints`, only each run's
    last checkpoint of its runs' (a figure comparing base with fine-tuned)."""
    models = list(dict.fromkeys(metrics["model"]))
    if not final_checkpoints or "run" not in metrics:
        return models
    lineage = metrics.drop_duplicates("model").fillna({"run": ""})
    checkpoints = lineage[lineage.run != ""]
    finals = set(checkpoints.sort_values("step").groupby("run", sort=False).tail(1)["model"])
    return [m for m in models if m in finals or m not in set(checkpoints["model"])]


def labels(models: pd.DataFrame | None) -> dict[str, str]:
    """model -> the name a figure prints: the study's `label` (the papers' names),
    else the model's id in the study."""
    if models is None:
        return {}
    if "label" not in models:
        return dict(zip(models["model"], models["model"]))
    return {m: (label or m) for m, label in zip(models["model"], models["label"].fillna("").astype(str))}


def lab_columns(metrics: pd.DataFrame, models: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(label, [base, chat]) per base -> post-trained pair, in the model table's order; a model in
    no pair gets a column of its own. Labels name the lab (from the model table)."""
    present = set(metrics["model"])
    shown = [m for m in models["model"] if m in present] + [m for m in model_order(metrics) if m not in set(models["model"])]
    parents = metrics.drop_duplicates("model").set_index("model")["parent"].fillna("").astype(str)
    labs = models.set_index("model")["lab"]
    columns, used = [], set()
    for model in shown:
        parent = parents.get(model, "")
        if parent in shown:
            lab = labs.get(model) or labs.get(parent) or model
            columns.append((str(lab), [parent, model]))
            used |= {parent, model}
    columns += [(m, [m]) for m in shown if m not in used]
    return columns


def lab_panels(axes, columns, names: dict[str, str]):
    """(ax, model, title) for each panel of a lab grid (a column per lab, base above,
    post-trained below; `names`: model -> printed name); panels a lab has no model for
    are switched off."""
    for j, (label, models) in enumerate(columns):
        for i, row in enumerate(axes[:, j]):
            if i >= len(models):
                row.axis("off")
                continue
            yield row, models[i], names.get(models[i], models[i])
