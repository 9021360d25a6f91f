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


@figure(inputs=["country_rank"], category="Countries")
def country_rank_map(metrics: pd.DataFrame, config: dict):
    """Mean country rank on a world map, one panel per model (paper fig. 1's map)."""
    from .world_map import countries, match_countries

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


@figure(inputs=["judge"], category="Ideology")
def judge_trajectory(metrics: pd.DataFrame, config: dict):
    """Judge score (0 far left .. 20 far right) vs optimizer step, one panel per base
    model, one line per run, from the base model at step 0 (PoliTune figs 2, 7-9)."""
    overall = metrics[metrics["item"] == "all"].fillna({"run": ""}).set_index("model")
    runs = [r for r in dict.fromkeys(overall.run) if r]
    bases = list(dict.fromkeys(overall.loc[overall.run != "", "parent"])) or list(overall.index)
    fig, axes = plt.subplots(1, len(bases), figsize=(5.5 * len(bases), 4), sharey=True, squeeze=False)
    for ax, base in zip(axes[0], bases):
        for colour, run in zip(RUN_COLOURS, runs):
            members = overall[(overall.run == run) & (overall.parent == base)].sort_values("step")
            if members.empty:
                continue
            path = ([base] if base in overall.index else []) + members.index.tolist()
            steps = ([0] if base in overall.index else []) + members["step"].astype(int).tolist()
            y = overall.loc[path, "judge_score"].to_numpy()
            err = np.abs(overall.loc[path, ["ci_low", "ci_high"]].to_numpy().T - y)
            ax.errorbar(steps, y, yerr=err, color=colour, marker="o", ms=4, lw=1.5, elinewidth=0.6,
                        capsize=2, label=run)
        ax.axhline(10, color="grey", lw=0.6, ls="--")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylim(0, 20)
        ax.set_xlabel("optimizer step")
        ax.set_title(base, fontsize=9)
        ax.legend(title="run", fontsize=7)
    judge = overall["judge_model"].dropna().iloc[0] if overall["judge_model"].notna().any() else "?"
    axes[0][0].set_ylabel(f"judge score ({judge}; 0 left · 20 right; 95% CI)")
    fig.suptitle("Judge score by checkpoint")
    return fig


def _wrap(text: str, width: int = 38, limit: int = 320) -> str:
    import textwrap

    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "\n".join(textwrap.wrap(text, width)) or "(empty)"


def judge_answer_columns(metrics: pd.DataFrame, config: dict) -> list[tuple[str, str]]:
    """(label, model): the first run's base model, then the final checkpoint of the
    first run toward the left and of the first run toward the right."""
    runs = config.get("finetune") or {}
    info = metrics.drop_duplicates("model").fillna({"run": ""})
    columns = []
    first_base = next((r["base"] for r in runs.values()), None)
    if first_base in set(info.model):
        columns.append((f"base: {first_base}", first_base))
    for direction in ("left", "right"):
        for name, run in runs.items():
            finals = info[info.run == name].sort_values("step")
            if run.get("direction") == direction and not finals.empty and run["base"] == first_base:
                columns.append((f"{direction}: {finals.model.iloc[-1]}", finals.model.iloc[-1]))
                break
    return columns


@figure(inputs=["judge"], category="Ideology")
def judge_answers(metrics: pd.DataFrame, config: dict):
    """Sample answers of the base, left- and right-tuned models side by side, with
    each answer's judge score (PoliTune figs 12-13)."""
    per_item = metrics[metrics["item"] != "all"]
    columns = judge_answer_columns(metrics, config)
    items = list(dict.fromkeys(per_item["item"]))
    cells = []
    for item in items:
        rows = per_item[per_item["item"] == item].set_index("model")
        question = rows["question"].iloc[0]
        line = [_wrap(question, 26)]
        for _, model in columns:
            r = rows.loc[model] if model in rows.index else None
            line.append("—" if r is None else f"[{r.judge_score:.1f}] " + _wrap(r.answer))
        cells.append(line)
    n_lines = [max(c.count("\n") + 1 for c in line) for line in cells]
    fig, ax = plt.subplots(figsize=(3 + 3.6 * len(columns), 0.6 + 0.16 * sum(n_lines)))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=["prompt"] + [label for label, _ in columns], loc="upper left",
                     cellLoc="left", colLoc="left",
                     colWidths=[0.2] + [0.8 / max(len(columns), 1)] * len(columns))
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    total = sum(n_lines) + 1.5
    for (row, col), cell in table.get_celld().items():
        cell.set_height((1.5 if row == 0 else n_lines[row - 1] + 0.4) / total)
    ax.set_title("Sample answers (greedy unless sampling is configured); [judge score 0 left · 20 right]",
                 fontsize=9)
    return fig


# ---- the geopolitical pairs study (Bladon & Bent 2026) ----

def _is_true(column: pd.Series) -> pd.Series:
    """A boolean column read back from CSV (bools, or the strings True/False)."""
    return column.astype(str).str.lower() == "true"


def lab_columns(metrics: pd.DataFrame, config: dict) -> list[tuple[str, list[str]]]:
    """(label, [base, chat]) per base -> post-trained pair, in config order; a model in
    no pair gets a column of its own. Labels name the lab (from the config)."""
    models = list(dict.fromkeys(metrics["model"]))
    parents = metrics.drop_duplicates("model").set_index("model")["parent"].fillna("").astype(str)
    entries = config.get("models") or {}
    columns, used = [], set()
    for model in models:
        parent = parents.get(model, "")
        if parent in models:
            lab = (entries.get(model) or {}).get("lab") or (entries.get(parent) or {}).get("lab") or model
            columns.append((str(lab), [parent, model]))
            used |= {parent, model}
    columns += [(m, [m]) for m in models if m not in used]
    return columns


@figure(inputs=["country_pairs_shift"], category="Geopolitics")
def geopolitics_home_shift(shifts: pd.DataFrame, config: dict):
    """Per lab: home-country favourability of the base and the post-trained model, and
    the shift (chat - base) with its paired 95% CI, with and without the consistency filter."""
    home = shifts[_is_true(shifts["home"]) & (shifts["language"] == "all")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    if home.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no model pair has a home_country", ha="center", va="center", transform=ax.transAxes)
            ax.axis("off")
        return fig
    unfiltered = home[home["filter"] == "none"]
    labels = [f"{lab}\n({country})" for lab, country in zip(unfiltered["lab"], unfiltered["home_country"])]
    pos = np.arange(len(unfiltered))
    for offset, who, colour in ((-0.2, "base", RUN_COLOURS[0]), (0.2, "chat", RUN_COLOURS[1])):
        value = unfiltered[f"{who}_favourability"].to_numpy()
        err = np.abs(unfiltered[[f"{who}_ci_low", f"{who}_ci_high"]].to_numpy().T - value)
        axes[0].bar(pos + offset, value, 0.4, yerr=err, color=colour, capsize=2, label=who,
                    error_kw={"elinewidth": 0.7})
    axes[0].set_xticks(pos, labels, fontsize=8)
    axes[0].set_ylabel("home-country favourability (mean log-odds, 95% CI)")
    axes[0].set_title("base vs post-trained")
    axes[0].legend(fontsize=8)
    filters = list(dict.fromkeys(home["filter"]))
    width = 0.8 / len(filters)
    for i, (filt, colour) in enumerate(zip(filters, RUN_COLOURS[2:])):
        part = home[home["filter"] == filt].set_index("model").reindex(unfiltered["model"])
        value = part["shift"].to_numpy()
        err = np.abs(part[["shift_ci_low", "shift_ci_high"]].to_numpy().T - value)
        axes[1].bar(pos + (i - (len(filters) - 1) / 2) * width, value, width, yerr=err, color=colour, capsize=2,
                    label={"none": "all scenarios", "consistent": "consistent scenarios"}.get(filt, filt),
                    error_kw={"elinewidth": 0.7})
    axes[1].set_xticks(pos, labels, fontsize=8)
    axes[1].set_ylabel("shift toward home country (chat - base, paired 95% CI)")
    axes[1].set_title("base -> chat shift")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.6)
    fig.suptitle("Do labs shift toward their home country in post-training?")
    return fig


def lab_panels(axes, columns):
    """(ax, model, title) for each panel of a lab grid (a column per lab, base above,
    post-trained below); panels a lab has no model for are switched off."""
    for j, (label, models) in enumerate(columns):
        for i, row in enumerate(axes[:, j]):
            if i >= len(models):
                row.axis("off")
                continue
            yield row, models[i], f"{label}: {models[i]}" if label != models[i] else label


@figure(inputs=["country_pairs"], category="Geopolitics")
def geopolitics_language(metrics: pd.DataFrame, config: dict):
    """Per model (a column per lab: base above, post-trained below): per-country
    favourability by prompt language, 95% CIs."""
    table = metrics[(metrics["language"] != "all") & ~_is_true(metrics["fictional"])]
    columns = lab_columns(table, config)
    n_rows = max(len(models) for _, models in columns)
    languages = sorted(table["language"].unique())
    fig, axes = plt.subplots(n_rows, len(columns), figsize=(3.6 * len(columns), 3.2 * n_rows), sharey=True,
                             squeeze=False)
    for ax, model, title in lab_panels(axes, columns):
        _bars(ax, table[table["model"] == model], "country", "language", languages)
        ax.set_title(title, fontsize=8)
    axes[0][0].set_ylabel("favourability (mean log-odds, 95% CI)")
    axes[0][0].legend(title="prompt language", fontsize=7)
    fig.suptitle("Country favourability by prompt language (EN / FR / ZH)")
    fig.tight_layout()
    return fig


@figure(inputs=["country_pairs_pairs"], category="Geopolitics")
def geopolitics_pairs(pairs: pd.DataFrame, config: dict):
    """Per model: country (row) x opponent (column) mean log-odds that the row country
    acted more justifiably; all scenarios and languages, real countries."""
    table = pairs[(pairs["filter"] == "none") & (pairs["language"] == "all") & ~_is_true(pairs["fictional"])]
    columns = lab_columns(table, config)
    n_rows = max(len(models) for _, models in columns)
    countries = list(dict.fromkeys(table.sort_values("country")["country"]))
    limit = float(np.nanmax(np.abs(table["log_odds"]))) or 1.0
    fig, axes = plt.subplots(n_rows, len(columns), figsize=(3.3 * len(columns) + 1, 3.3 * n_rows), squeeze=False,
                             layout="constrained")
    image = None
    for ax, model, title in lab_panels(axes, columns):
        matrix = (table[table["model"] == model]
                  .pivot_table(index="country", columns="opponent", values="log_odds", aggfunc="first")
                  .reindex(index=countries, columns=countries))
        image = ax.imshow(matrix.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit)
        for r in range(len(countries)):
            for c in range(len(countries)):
                value = matrix.iat[r, c]
                if np.isfinite(value):
                    ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=5)
        ax.set_xticks(range(len(countries)), countries, rotation=90, fontsize=6)
        ax.set_yticks(range(len(countries)), countries, fontsize=6)
        ax.set_title(title, fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="mean log-odds, row over column")
    fig.suptitle("Which country acted more justifiably? Pair log-odds per model")
    return fig


# --- global-representation study (Ryan, Held, Yang 2024) ---------------------------------

def _lineage_order(metrics: pd.DataFrame) -> list[str]:
    """Models in table order (the config's order: each lineage base -> sft -> pt)."""
    return list(dict.fromkeys(metrics["model"]))


def _significance_marks(table: pd.DataFrame, column: str = "p_adjusted") -> list[str]:
    if column not in table:
        return [""] * len(table)
    return ["*" if pd.notna(p) and p < 0.05 else "" for p in table[column]]


@figure(inputs=["where_from"], category="Countries")
def country_rewards(metrics: pd.DataFrame, config: dict):
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


@figure(inputs=["dialect_intent"], category="Dialects")
def dialect_accuracy(metrics: pd.DataFrame, config: dict):
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
def multilingual_change(mcqa: pd.DataFrame, qa: pd.DataFrame, config: dict):
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


@figure(inputs=["opinions"], category="Opinions")
def opinion_similarity(metrics: pd.DataFrame, config: dict):
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
