"""Figures, each drawn from metrics tables and saved as PDF and PNG.

A figure is a function registered with `@figure(inputs=..., category=...)`: `inputs`
names the metrics tables it reads (`results/metrics/<name>.csv`), which is all the
workflow's single `figure` rule needs to build it alone; its caption is
`workflow/report/<name>.rst`.
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


def draw(name: str, tables: dict[str, str], pdf: str, png: str, config: dict | None = None) -> None:
    """Draw figure `name` from its metrics tables (name -> csv path) into `pdf` and `png`."""
    frames = {table: pd.read_csv(path) for table, path in tables.items()}
    fig = spec(name).draw(*(frames[t] for t in spec(name).inputs), config or {})
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


@figure(inputs=["ideology"], category="Ideology")
def ideology_trajectory(metrics: pd.DataFrame, config: dict):
    """Each run's path on the economic x social plane, base model first."""
    wide = metrics.pivot_table(index="model", columns="axis", values=["coordinate", "ci_low", "ci_high"])
    info = metrics.drop_duplicates("model").set_index("model").fillna({"run": ""})
    fig, ax = plt.subplots(figsize=(6.5, 6))
    runs = [r for r in dict.fromkeys(info.run) if r]
    for colour, run in zip(RUN_COLOURS, runs):
        members = info[info.run == run].sort_values("step")
        base = members["parent"].iloc[0]
        path = [base] + members.index.tolist()
        steps = [0] + members["step"].astype(int).tolist()
        x = wide.loc[path, ("coordinate", "economic")].to_numpy()
        y = wide.loc[path, ("coordinate", "social")].to_numpy()
        xerr = np.abs(wide.loc[path, [("ci_low", "economic"), ("ci_high", "economic")]].to_numpy().T - x)
        yerr = np.abs(wide.loc[path, [("ci_low", "social"), ("ci_high", "social")]].to_numpy().T - y)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, color=colour, marker="o", ms=5, lw=1.5, elinewidth=0.6,
                    capsize=2, label=run)
        for xi, yi, step in zip(x[1:], y[1:], steps[1:]):
            ax.annotate(str(step), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour)
    for model in info.index[info.run == ""]:
        ax.plot(wide.loc[model, ("coordinate", "economic")], wide.loc[model, ("coordinate", "social")],
                marker="*", ms=14, color="black", ls="none", zorder=5)
        ax.annotate(model, (wide.loc[model, ("coordinate", "economic")], wide.loc[model, ("coordinate", "social")]),
                    textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("economic  (← left · right →)")
    ax.set_ylabel("social  (← libertarian · authoritarian →)")
    ax.set_title("Ideology by checkpoint (labels: training step; bars: 95% CI)")
    ax.legend(title="run", fontsize=8)
    return fig


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


@figure(inputs=["country_pairs"], category="Geopolitics")
def country_pairs_favourability(metrics: pd.DataFrame, config: dict):
    """Per-country favourability of the base model(s) and each run's final checkpoint."""
    models = compared_models(metrics)
    table = metrics[(metrics.language == "all") & metrics.model.isin(models)]
    fictional = table.fictional.astype(str).str.lower() == "true"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 1.3]}, sharey=True)
    _bars(axes[0], table[~fictional], "country", "model", models)
    _bars(axes[1], table[fictional], "country", "model", models)
    axes[0].set_title("real countries")
    axes[1].set_title("fictional control")
    axes[0].set_ylabel("favourability (mean log-odds, 95% CI)")
    axes[0].legend(fontsize=7, title="model")
    fig.suptitle("Which country acted more justifiably? Base vs fine-tuned")
    return fig


@figure(inputs=["country_pairs"], category="Geopolitics")
def country_pairs_language(metrics: pd.DataFrame, config: dict):
    """Per-country favourability by prompt language, one panel per compared model."""
    models = compared_models(metrics)
    table = metrics[(metrics.language != "all") & metrics.model.isin(models)]
    table = table[table.fictional.astype(str).str.lower() != "true"]
    languages = sorted(table.language.unique())
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        _bars(ax, table[table.model == model], "country", "language", languages)
        ax.set_title(model, fontsize=9)
    axes[0][0].set_ylabel("favourability (mean log-odds, 95% CI)")
    axes[0][0].legend(title="prompt language", fontsize=7)
    fig.suptitle("Country favourability by prompt language")
    return fig


@figure(inputs=["country_rank_correlation"], category="Countries")
def country_rank_correlation(metrics: pd.DataFrame, config: dict):
    """Spearman correlation of the models' country rankings."""
    matrix = metrics.pivot(index="model_a", columns="model_b", values="rho")
    order = list(dict.fromkeys(metrics["model_a"]))
    matrix = matrix.loc[order, order]
    n = len(order)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.6 + 0.7 * n))
    im = ax.imshow(matrix.to_numpy(), cmap="viridis", vmin=min(0.0, np.nanmin(matrix.to_numpy())), vmax=1)
    for i in range(n):
        for j in range(n):
            value = matrix.iat[i, j]
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 0.6 else "black")
    ax.set_xticks(range(n), order, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), order, fontsize=8)
    fig.colorbar(im, ax=ax, label="Spearman rho of mean country rank")
    ax.set_title("Country rankings: model x model")
    return fig
