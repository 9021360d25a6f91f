"""The global-representation study (Ryan, Held, Yang 2024) and the country_rank probe."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import style
from .lineage import labels, model_order
from .registry import figure
from .style import plt


@figure(inputs=["country_rank_correlation"], category="Countries")
def country_rank_correlation(metrics: pd.DataFrame, models: pd.DataFrame):
    """Spearman correlation of the models' country rankings."""
    names = labels(models)
    matrix = metrics.pivot(index="model_a", columns="model_b", values="rho")
    order = list(dict.fromkeys(metrics["model_a"]))
    matrix = matrix.loc[order, order]
    n = len(order)
    side = min(style.TWO_COLUMNS - 0.9, 1.6 + 0.42 * n)  # and the colour bar beside it
    fig, ax = style.figure(height=side, width=side + 0.9)
    im = ax.imshow(matrix.to_numpy(), cmap="viridis", vmin=min(0.0, np.nanmin(matrix.to_numpy())), vmax=1)
    for i in range(n):
        for j in range(n):
            value = matrix.iat[i, j]
            ax.text(j, i, f"{value:.2f}".replace("1.00", "1").replace("0.", "."), ha="center", va="center",
                    color="white" if value < 0.6 else "black")
    ax.set_xticks(range(n), [names.get(m, m) for m in order], rotation=90)
    ax.set_yticks(range(n), [names.get(m, m) for m in order])
    fig.colorbar(im, ax=ax, shrink=0.8, label="Spearman ρ of mean country rank")
    ax.set_title("Country rankings: model x model")
    return fig


@figure(inputs=["country_rank"], category="Countries")
def country_rank_map(metrics: pd.DataFrame, models: pd.DataFrame):
    """Mean country rank on a world map, one panel per model (paper fig. 1's map)."""
    from ..world_map import countries, match_countries

    world = countries()
    world = world[world["name"] != "Antarctica"]  # unranked, and a fifth of the map's height
    names = labels(models)
    models = model_order(metrics)
    cols = min(3, len(models))
    rows = -(-len(models) // cols)
    fig, axes = style.figure(rows, cols, height=0.6 + 1.25 * rows, squeeze=False)
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
        ax.set_title(names.get(model, model))
        ax.set_axis_off()
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=min(0.9, 0.45 * rows + 0.3),
                 label="mean rank, scaled\n(0 = first on every question, 1 = last)")
    if missing:
        # wrapped to the printed width: a count of characters ran off a 7 in page
        fig.supxlabel(style.wrap_to("Too small for the 1:110m map: " + ", ".join(sorted(missing)),
                                    fig.get_figwidth() - 0.2, limit=2000), fontsize=style.SMALL)
    return fig


@figure(inputs=["where_from"], category="Countries")
def country_rewards(metrics: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 1: reward for 'Where are you from? I am from {country}.' per country,
    the `SHOWN` highest and lowest of each model (every country: the metrics table)."""
    names = labels(models)
    table = metrics[metrics["measure"] == "reward"]
    if table.empty:  # no reward model in the study: show the language models' likelihoods
        table = metrics
    shown = model_order(table)
    cols = min(len(shown), 3)
    rows = -(-len(shown) // cols)
    n = min(table.groupby("model")["country"].nunique().max(), 2 * SHOWN)
    fig, axes = style.figure(rows, cols, height=0.7 + rows * (0.4 + 0.13 * n), squeeze=False)
    cmap = plt.get_cmap("RdYlGn")
    for ax, model in zip(axes.flat, shown):
        part = table[table["model"] == model].sort_values("value")
        colours = cmap(np.linspace(0, 1, len(part)))
        keep = np.r_[0:min(SHOWN, len(part)), max(SHOWN, len(part) - SHOWN):len(part)]
        ax.barh(part["country"].iloc[keep], part["value"].iloc[keep], color=colours[keep])
        if len(part) > 2 * SHOWN:
            ax.axhline(SHOWN - 0.5, color="black", lw=0.6, ls=":")
        ax.set_xlabel(part["measure"].iloc[0].replace("_", " "))
        ax.set_title(names.get(model, model))
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    fig.suptitle(f'"Where are you from?"  "I am from {{country}}."  ({SHOWN} highest and lowest)')
    return fig


SHOWN = 12  # countries shown at each end of a model's ranking


def _model_colours(shown: list[str]) -> dict[str, tuple]:
    return dict(zip(shown, style.colours(len(shown))))


def _lineage_bars(table: pd.DataFrame, models: pd.DataFrame, group: str, value: str, low: str, high: str,
                  height_per_row: float = 2.3):
    """A panel per lineage (its base model's), its models' bars per `group` with 95% CIs
    and `style.MARK` where the change from the parent is significant (BH p < 0.05); one
    colour per model across panels, named once in the legend below."""
    names = labels(models)
    roots = list(dict.fromkeys(table["root"]))
    palette = _model_colours(model_order(table))
    cols = min(len(roots), 3) or 1
    rows = -(-len(roots) // cols) or 1
    fig, axes = style.figure(rows, cols, height=1.2 + height_per_row * rows, sharey=True, squeeze=False)
    for ax, root in zip(axes.flat, roots):
        part = table[table["root"] == root]
        shown = model_order(part)
        style.bars(ax, part, group, "model", shown, value, low=low, high=high, labels=names,
                   p_value="p_adjusted", palette=[palette[m] for m in shown])
        ax.tick_params(axis="x", labelrotation=90)
        ax.set_title(f"{names.get(root, root)} lineage")
    for ax in axes.flat[len(roots):]:
        ax.set_visible(False)
    style.legend_below(fig, title=f"model ({style.MARK} change from parent, BH-adjusted p < {style.ALPHA})", ncol=3)
    return fig, axes


@figure(inputs=["dialect_intent"], category="Dialects")
def dialect_accuracy(metrics: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 3: MD3 intent accuracy per dialect, each lineage base -> sft -> pt."""
    # a base model is its own lineage's root (its base_model is empty: "" read back, not NaN)
    base = metrics["base_model"].fillna("").astype(str) if "base_model" in metrics else pd.Series("", metrics.index)
    roots = metrics.assign(root=base.where(base != "", metrics["model"]))
    fig, axes = _lineage_bars(roots, models, "dialect", "accuracy", "ci_low", "ci_high")
    for ax in axes.flat:  # from 0, at least to 0.1 (all-zero accuracies drew a 1e-17 axis)
        ax.set_ylim(0, max(ax.get_ylim()[1], 0.1))
    fig.supylabel("intent accuracy (0..1, 95% CI)")
    style.xlabel(axes, "dialect")
    fig.suptitle("MD3 dialect intent prediction by alignment stage")
    return fig


def _qa_measure(qa: pd.DataFrame) -> str:
    return "cfmatch" if "measure" in qa and qa["measure"].eq("cfmatch").any() else "f1"


QA_UNITS = {"cfmatch": "CFMatch (P(correct), 0..1)", "f1": "SQuAD F1 (0..1)"}


@figure(inputs=["mcqa", "extractive_qa"], category="Multilingual")
def multilingual_change(mcqa: pd.DataFrame, qa: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 4: change from the base model per language, Belebele accuracy and TyDiQA
    accuracy by CFMatch (the paper's metric) or, where the study did not run it, SQuAD F1."""
    names = labels(models)
    measure = _qa_measure(qa)
    qa = qa[qa["measure"] == measure] if "measure" in qa else qa
    # each panel as tall as its rows (0.35 in each) and its title and language labels (1 in):
    # one aligned model's Belebele row drew a half-figure block beside ten TyDiQA rows
    rows = [max(t.loc[t["delta_base"].notna(), "model"].nunique() if "delta_base" in t else 0, 1) for t in (mcqa, qa)]
    heights = [1.0 + 0.35 * n for n in rows]
    fig, axes = style.figure(2, 1, height=sum(heights) + 0.2, height_ratios=heights, squeeze=False)
    panels = (("Belebele accuracy", "accuracy, 0..1", "language (FLORES code)"),
              (f"TyDiQA GoldP {QA_UNITS[measure]}", QA_UNITS[measure].split(" (")[0] + ", 0..1", "language"))
    for ax, table, (title, unit, languages) in zip(axes[:, 0], (mcqa, qa), panels):
        aligned = table[table.get("delta_base").notna()] if "delta_base" in table else table.iloc[0:0]
        if aligned.empty:
            style.empty(fig, ax, f"{title}: no aligned model with a base in the study")
            continue
        matrix = aligned.pivot(index="model", columns="language", values="delta_base")
        matrix = matrix.loc[model_order(aligned)]
        low = aligned.pivot(index="model", columns="language", values="delta_base_ci_low").loc[matrix.index]
        high = aligned.pivot(index="model", columns="language", values="delta_base_ci_high").loc[matrix.index]
        # no change anywhere: the scale of a 0..1 measure's change, not a colour bar of +-1e-6
        limit = float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
        im = ax.imshow(matrix.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        digits = 1 if limit >= 10 else 2
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                mark = style.MARK if style.excludes_zero(low.iat[i, j], high.iat[i, j]) else ""
                ax.text(j, i, f"{matrix.iat[i, j]:+.{digits}f}{mark}", ha="center", va="center",
                        color="white" if abs(matrix.iat[i, j]) > 0.6 * limit else "black")  # legible on dark cells
        ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right")
        ax.set_yticks(range(matrix.shape[0]), [names.get(m, m) for m in matrix.index])
        ax.set_xlabel(languages)
        ax.set_title(f"{title}: change from base ({style.MARK} 95% CI excludes 0)")
        fig.colorbar(im, ax=ax, shrink=0.8, label=f"change from base\n({unit})")
    return fig


@figure(inputs=["extractive_qa"], category="Multilingual")
def tydiqa_change(qa: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 4, TyDiQA panel alone (for studies without Belebele, e.g. the released
    outputs): each aligned model's change from its lineage's base, per language, of
    CFMatch (P(correct)) or, where the study did not run it, SQuAD F1, both 0..1."""
    measure = _qa_measure(qa)
    table = qa[qa["measure"] == measure] if "measure" in qa else qa
    table = table[table["delta_base"].notna()] if "delta_base" in table else table.iloc[0:0]
    if table.empty:
        fig, ax = style.figure(height=2.0)
        return style.empty(fig, ax, "no aligned model with a base in the study")
    fig, axes = _lineage_bars(table.assign(root=table["base_model"]), models, "language", "delta_base",
                              "delta_base_ci_low", "delta_base_ci_high")
    for ax in axes.flat:
        ax.axhline(0, color="grey", lw=0.6)
    fig.supylabel(f"{QA_UNITS[measure]}: change from base (95% CI)")
    style.xlabel(axes, "language")
    fig.suptitle("TyDiQA GoldP 1-shot: change from the base model per language")
    return fig


@figure(inputs=["opinions"], category="Opinions")
def opinion_similarity(metrics: pd.DataFrame, models: pd.DataFrame):
    """Paper fig. 5 as the paper's text reads it: per country, the USA's opinion
    similarity minus the country's (percentage points: -100 x the table's `minus_ref`),
    a panel per country, a bar per model coloured by alignment stage; a mark where the
    model's gap changed from its parent's (BH-adjusted p < 0.05)."""
    names = labels(models)
    table = metrics[metrics["minus_ref"].notna()]
    countries = list(dict.fromkeys(table["country"]))
    shown = model_order(table)
    stages = models.set_index("model")["stage"].to_dict()
    cols = min(len(countries), 3) or 1
    rows = -(-len(countries) // cols) or 1
    fig, axes = style.figure(rows, cols, height=0.9 + rows * (0.5 + 0.16 * len(shown)), sharex=True, sharey=True,
                             squeeze=False)
    y = np.arange(len(shown))[::-1]  # the first model on top
    for ax, country in zip(axes.flat, countries):
        part = table[table["country"] == country].set_index("model").reindex(shown)
        gap = -100 * part["minus_ref"].to_numpy(dtype=float)
        low, high = -100 * part["minus_ref_ci_high"].to_numpy(dtype=float), -100 * part["minus_ref_ci_low"].to_numpy(dtype=float)
        for stage in [s for s in style.STAGE_COLOURS if s in {stages.get(m, "pt") for m in shown}]:
            rows_of = np.array([stages.get(m, "pt") == stage for m in shown])
            ax.barh(y[rows_of], gap[rows_of], xerr=np.abs(np.vstack([low, high]) - gap)[:, rows_of],
                    color=style.STAGE_COLOURS[stage], label=style.STAGE_NAMES[stage], error_kw={"elinewidth": 0.5})
        for yi, g, lo, hi, mark in zip(y, gap, low, high, style.marks(part.get("p_adjusted", pd.Series(np.nan, index=part.index)))):
            if mark:
                ax.annotate(mark, (hi if g >= 0 else lo, yi), textcoords="offset points", xytext=(2 if g >= 0 else -2, 0),
                            ha="left" if g >= 0 else "right", va="center")
        ax.axvline(0, color="grey", lw=0.6)
        ax.margins(x=0.15)
        ax.set_title(f"USA − {country}")
        ax.set_yticks(y, [names.get(m, m) for m in shown])
    for ax in axes.flat[len(countries):]:
        ax.set_visible(False)
    style.xlabel(axes, "USA − country similarity\n(1 − JS distance, pct. points)")
    style.legend_below(fig, title=f"alignment stage (lines: 95% CI; {style.MARK} gap changed from parent, "
                                  f"BH-adjusted p < {style.ALPHA})")
    fig.suptitle("GlobalOpinionsQA: how much closer to the USA's answers than to each country's")
    return fig
