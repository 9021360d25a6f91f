"""Figures, each drawn from metrics tables and the study's model table, saved as PDF and PNG.

A figure is a function registered with `@figure(inputs=..., category=...)`: `inputs`
names the metrics tables it reads (`results/metrics/<name>.csv`), which is all the
workflow's single `figure` rule needs to build it alone; it is called with those
tables and the model table (`results/models.csv`); its caption is
`workflow/report/<name>.rst`. The figures live by study: `politics` (ideology and
judge: the default study, PoliTune), `geopolitics`, `global_representation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

RUN_COLOURS = plt.get_cmap("tab10").colors


@dataclass(frozen=True)
class Figure:
    draw: Callable
    inputs: tuple[str, ...]  # metrics tables read, by name
    category: str


FIGURES: dict[str, Figure] = {}


def figure(*, inputs: list[str], category: str):
    def register(fn):
        FIGURES[fn.__name__] = Figure(fn, tuple(inputs), category)
        return fn

    return register


def spec(name: str) -> Figure:
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    return FIGURES[name]


def input_paths(name: str) -> dict[str, str]:
    return {table: f"results/metrics/{table}.csv" for table in spec(name).inputs}


def draw(name: str, tables: dict[str, str], models: str, pdf: str, png: str) -> None:
    """Draw figure `name` from its metrics tables (name -> csv path) and the model
    table (csv path) into `pdf` and `png`."""
    from ..registry import read_model_table
    from ..tables import read_csv

    frames = {table: read_csv(path) for table, path in tables.items()}
    fig = spec(name).draw(*(frames[t] for t in spec(name).inputs), read_model_table(models))
    for path in (pdf, png):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def compared_models(metrics: pd.DataFrame) -> list[str]:
    """Base models (no run) and the final checkpoint of every run, in table order."""
    lineage = metrics.drop_duplicates("model").fillna({"run": ""})
    bases = lineage.loc[lineage.run == "", "model"].tolist()
    finals = lineage[lineage.run != ""].sort_values("step").groupby("run", sort=False).tail(1)
    return bases + finals.sort_values("run")["model"].tolist()


def _bars(ax, table: pd.DataFrame, group: str, hue: str, hues: list, value="favourability"):
    groups = list(dict.fromkeys(table[group]))
    width = 0.8 / max(len(hues), 1)
    for i, (h, colour) in enumerate(zip(hues, RUN_COLOURS)):
        part = table[table[hue] == h].set_index(group).reindex(groups)
        pos = np.arange(len(groups)) + (i - (len(hues) - 1) / 2) * width
        err = np.abs(part[["ci_low", "ci_high"]].to_numpy().T - part[value].to_numpy())
        ax.bar(pos, part[value], width, yerr=err, color=colour, label=str(h), capsize=1.5,
               error_kw={"elinewidth": 0.6})
    ax.set_xticks(np.arange(len(groups)), groups, rotation=45, ha="right", fontsize=8)
    ax.axhline(0, color="grey", lw=0.6)


def _wrap(text: str, width: int = 38, limit: int = 320) -> str:
    """Model text as a figure can show it: whitespace runs as one space, control
    characters as escapes (\\x1b), `$` literal (not mathtext), cut at `limit`."""
    import textwrap

    from ..tables import displayable

    text = displayable(" ".join(str(text).split()))
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "\n".join(textwrap.wrap(text, width)).replace("$", r"\$") or "(empty)"


def _is_true(column: pd.Series) -> pd.Series:
    """A boolean column read back from CSV (bools, or the strings True/False)."""
    return column.astype(str).str.lower() == "true"


def _lineage_order(metrics: pd.DataFrame) -> list[str]:
    """Models in table order (the config's order: each lineage base -> sft -> pt)."""
    return list(dict.fromkeys(metrics["model"]))


def _significance_marks(table: pd.DataFrame, column: str = "p_adjusted") -> list[str]:
    if column not in table:
        return [""] * len(table)
    return ["*" if pd.notna(p) and p < 0.05 else "" for p in table[column]]


def _grouped_bars(ax, table: pd.DataFrame, group: str, value: str, models: list[str], low="ci_low", high="ci_high"):
    groups = list(dict.fromkeys(table[group]))
    width = 0.8 / max(len(models), 1)
    colours = plt.get_cmap("tab20").colors
    for i, model in enumerate(models):
        part = table[table["model"] == model].set_index(group).reindex(groups)
        pos = np.arange(len(groups)) + (i - (len(models) - 1) / 2) * width
        err = np.abs(part[[low, high]].to_numpy().T - part[value].to_numpy())
        ax.bar(pos, part[value], width, yerr=err, color=colours[i % len(colours)], label=model, capsize=1.5,
               error_kw={"elinewidth": 0.6})
        for x, y, mark in zip(pos, part[high], _significance_marks(part.reset_index())):
            if mark:
                ax.text(x, y, mark, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(np.arange(len(groups)), groups, fontsize=8)


def lab_columns(metrics: pd.DataFrame, models: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(label, [base, chat]) per base -> post-trained pair, in table order; a model in
    no pair gets a column of its own. Labels name the lab (from the model table)."""
    shown = list(dict.fromkeys(metrics["model"]))
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


def lab_panels(axes, columns):
    """(ax, model, title) for each panel of a lab grid (a column per lab, base above,
    post-trained below); panels a lab has no model for are switched off."""
    for j, (label, models) in enumerate(columns):
        for i, row in enumerate(axes[:, j]):
            if i >= len(models):
                row.axis("off")
                continue
            yield row, models[i], f"{label}: {models[i]}" if label != models[i] else label


# the figures register themselves on import
from . import geopolitics, global_representation, politics  # noqa: E402,F401
