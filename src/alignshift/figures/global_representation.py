"""The global-representation study (Ryan, Held, Yang 2024) and the country_rank probe."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import plt, figure
from . import _grouped_bars, _lineage_order


@figure(inputs=["country_rank_correlation"], category="Countries")
def country_rank_correlation(metrics: pd.DataFrame, models: pd.DataFrame):
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


@figure(inputs=["country_rank"], category="Countries")
def country_rank_map(metrics: pd.DataFrame, models: pd.DataFrame):
    """Mean country rank on a world map, one panel per model (paper fig. 1's map)."""
    from ..world_map import countries, match_countries

    world = countries()
    world = world[world["name"] != "Antarctica"]  # unranked, and a fifth of the map's height
    models = _lineage_order(metrics)
    cols = min(3, len(models))
    rows = -(-len(models) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols + 1.2, 0.5 + 2.2 * rows), squeeze=False,
                             layout="constrained")
    # rank scaled to 0 (always first) .. 1 (always last), so models ranking different
    # numbers of countries share one colour scale
    scaled = {model: (ranks - 1) / max(len(ranks) - 1, 1)
              for model, ranks in metrics.set_index("country").groupby("model")["mean_rank"]}
    # mean ranks over many questions crowd the middle: the scale spans what the panels
    # show, symmetric about 0.5 (the indifferent rank)
    spread = max(max(float((v - 0.5).abs().max()) for v in scaled.values()), 0.05)
    norm = plt.Normalize(0.5 - spread, 0.5 + spread)
    cmap = plt.get_cmap("RdYlBu").reversed()  # blue = favoured (low rank), red = disfavoured
    missing: set[str] = set()
    for ax, model in zip(axes.flat, models):
        values, absent = match_countries(scaled[model], world)
        missing.update(absent)
        world.plot(ax=ax, color="0.88", edgecolor="white", linewidth=0.2)
        world.assign(value=world["name"].map(values)).dropna(subset=["value"]).plot(
            ax=ax, column="value", cmap=cmap, norm=norm, edgecolor="white", linewidth=0.2)
        ax.set_title(model, fontsize=9)
        ax.set_axis_off()
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=min(0.9, 0.45 * rows + 0.3),
                 label="mean rank, scaled\n(0 = first on every question, 1 = last)")
    if missing:
        fig.supxlabel("Too small for the 1:110m map: " + ", ".join(sorted(missing)), fontsize=7, wrap=True)
    return fig


@figure(inputs=["where_from"], category="Countries")
def country_rewards(metrics: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 1: reward for 'Where are you from? I am from {country}.' per country."""
    table = metrics[metrics["measure"] == "reward"]
    if table.empty:  # no reward model in the study: show the language models' likelihoods
        table = metrics
    models = _lineage_order(table)
    n = table["country"].nunique()
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 1.5 + 0.16 * n), squeeze=False)
    for ax, model in zip(axes[0], models):
        part = table[table["model"] == model].sort_values("value")
        ax.barh(part["country"], part["value"], color=plt.get_cmap("RdYlGn")(np.linspace(0, 1, len(part))))
        ax.tick_params(axis="y", labelsize=6)
        ax.set_xlabel(part["measure"].iloc[0].replace("_", " "))
        ax.set_title(model, fontsize=9)
    fig.suptitle('"Where are you from?"  "I am from {country}."')
    return fig


@figure(inputs=["dialect_intent"], category="Dialects")
def dialect_accuracy(metrics: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 3: MD3 intent accuracy per dialect, each lineage base -> sft -> pt."""
    roots = metrics.assign(root=metrics["base_model"].fillna(metrics["model"]) if "base_model" in metrics
                           else metrics["model"])
    lineages = list(dict.fromkeys(roots["root"]))
    fig, axes = plt.subplots(1, len(lineages), figsize=(4.2 * len(lineages), 3.8), sharey=True, squeeze=False)
    for ax, root in zip(axes[0], lineages):
        part = roots[roots["root"] == root]
        _grouped_bars(ax, part, "dialect", "accuracy", _lineage_order(part))
        ax.set_title(f"{root} lineage", fontsize=9)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("intent accuracy (95% CI; * BH p<0.05 vs parent)")
    fig.suptitle("MD3 dialect intent prediction by alignment stage")
    return fig


@figure(inputs=["mcqa", "extractive_qa"], category="Multilingual")
def multilingual_change(mcqa: pd.DataFrame, qa: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 4: change from the base model per language, Belebele accuracy and TyDiQA
    accuracy by CFMatch (the paper's metric) or, where the study did not run it, SQuAD F1."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 1.2 + 0.45 * max(mcqa["model"].nunique(), 2)), squeeze=False,
                             layout="constrained")
    measure = "cfmatch" if "measure" in qa and qa["measure"].eq("cfmatch").any() else "f1"
    qa = qa[qa["measure"] == measure] if "measure" in qa else qa
    qa_title = "TyDiQA GoldP accuracy (CFMatch)" if measure == "cfmatch" else "TyDiQA GoldP F1"
    for ax, table, title in zip(axes[0], (mcqa, qa), ("Belebele accuracy", qa_title)):
        aligned = table[table.get("delta_base").notna()] if "delta_base" in table else table.iloc[0:0]
        if aligned.empty:
            ax.set_title(f"{title}: no aligned model with a base in the study")
            continue
        matrix = aligned.pivot(index="model", columns="language", values="delta_base")
        matrix = matrix.loc[_lineage_order(aligned)]
        low = aligned.pivot(index="model", columns="language", values="delta_base_ci_low").loc[matrix.index]
        high = aligned.pivot(index="model", columns="language", values="delta_base_ci_high").loc[matrix.index]
        limit = max(float(np.nanmax(np.abs(matrix.to_numpy()))), 1e-6)
        im = ax.imshow(matrix.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                significant = low.iat[i, j] > 0 or high.iat[i, j] < 0
                ax.text(j, i, f"{matrix.iat[i, j]:+.2f}{'*' if significant else ''}", ha="center", va="center",
                        fontsize=7)
        ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=8)
        ax.set_title(f"{title}: change from base (* 95% CI excludes 0)", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


@figure(inputs=["extractive_qa"], category="Multilingual")
def tydiqa_change(qa: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 4, TyDiQA panel alone (for studies without Belebele, e.g. the released
    outputs): each aligned model's change from its lineage's base, per language, of
    CFMatch (100 x P(correct)) or, where the study did not run it, SQuAD F1."""
    measure = "cfmatch" if "measure" in qa and qa["measure"].eq("cfmatch").any() else "f1"
    table = qa[qa["measure"] == measure] if "measure" in qa else qa
    table = table[table["delta_base"].notna()] if "delta_base" in table else table.iloc[0:0]
    roots = list(dict.fromkeys(table["base_model"])) if not table.empty else []
    fig, axes = plt.subplots(1, max(len(roots), 1), figsize=(4.2 * max(len(roots), 1), 3.9), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, root in zip(axes[0], roots):
        part = table[table["base_model"] == root].rename(columns={
            "delta_base": "change", "delta_base_ci_low": "change_low", "delta_base_ci_high": "change_high"})
        _grouped_bars(ax, part, "language", "change", _lineage_order(part), low="change_low", high="change_high")
        ax.tick_params(axis="x", labelrotation=45)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(f"change from {root}", fontsize=9)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel(("CFMatch x 100" if measure == "cfmatch" else "SQuAD F1") + " change (95% CI)")
    fig.suptitle("TyDiQA GoldP 1-shot: change from the base model per language")
    return fig


@figure(inputs=["opinions"], category="Opinions")
def opinion_similarity(metrics: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 5: each country's opinion similarity minus the USA's, per model."""
    table = metrics[metrics["minus_ref"].notna()]
    models = _lineage_order(table)
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * table["country"].nunique() * max(len(models), 1) ** 0.5, 4.2))
    _grouped_bars(ax, table, "country", "minus_ref", models, low="minus_ref_ci_low", high="minus_ref_ci_high")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_ylabel("similarity minus USA's (1 - JS distance; 95% CI)\n* change from parent, BH p<0.05")
    ax.legend(fontsize=6, ncol=2)
    ax.set_title("GlobalOpinionsQA: agreement with each country relative to the USA")
    return fig
