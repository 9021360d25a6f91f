"""Ideology and judge figures: the default study, PoliTune (Agiza et al. 2024)."""

from __future__ import annotations

import matplotlib.ticker
import numpy as np
import pandas as pd

from . import RUN_COLOURS, plt, figure
from . import _wrap


# (column of the ideology metrics, its CI's prefix, panel title)
TRAJECTORY_PANELS = (
    ("coordinate", "", "raw coordinates (the questionnaire's scoring)"),
    ("corrected", "corrected_", "acquiescence-corrected (mean agreement removed)"),
)


def _trajectory_panel(ax, metrics: pd.DataFrame, value: str, ci: str):
    """Each run's path on the economic x social plane in one kind of coordinate."""
    wide = metrics.pivot_table(index="model", columns="axis", values=[value, f"{ci}ci_low", f"{ci}ci_high"])
    info = metrics.drop_duplicates("model").set_index("model").fillna({"run": ""})
    runs = [r for r in dict.fromkeys(info.run) if r]
    for colour, run in zip(RUN_COLOURS, runs):
        members = info[info.run == run].sort_values("step")
        path = [members["parent"].iloc[0]] + members.index.tolist()
        steps = [0] + members["step"].astype(int).tolist()
        x, y = (wide.loc[path, (value, axis)].to_numpy() for axis in ("economic", "social"))
        xerr, yerr = (np.abs(wide.loc[path, [(f"{ci}ci_low", axis), (f"{ci}ci_high", axis)]].to_numpy().T - centre)
                      for axis, centre in (("economic", x), ("social", y)))
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, color=colour, marker="o", ms=5, lw=1.5, elinewidth=0.6,
                    capsize=2, label=run)
        for xi, yi, step in zip(x[1:], y[1:], steps[1:]):
            ax.annotate(str(step), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour)
    for model in info.index[info.run == ""]:
        point = (wide.loc[model, (value, "economic")], wide.loc[model, (value, "social")])
        ax.plot(*point, marker="*", ms=14, color="black", ls="none", zorder=5)
        ax.annotate(model, point, textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("economic  (← left · right →)")


@figure(inputs=["ideology"], category="Ideology")
def ideology_trajectory(metrics: pd.DataFrame, models: pd.DataFrame):
    """Each run's path on the economic x social plane, base model first: the raw
    coordinates beside the acquiescence-corrected ones, where a run that only learnt to
    agree (or disagree) more stays put (docs/default-study.md, finding 4)."""
    fig, axes = plt.subplots(1, len(TRAJECTORY_PANELS), figsize=(12, 5.8), sharex=True, sharey=True)
    for ax, (value, ci, title) in zip(axes, TRAJECTORY_PANELS):
        _trajectory_panel(ax, metrics, value, ci)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("social  (← libertarian · authoritarian →)")
    axes[0].legend(title="run", fontsize=8)
    fig.suptitle("Ideology by checkpoint (labels: training step; bars: 95% CI over statements)")
    return fig


@figure(inputs=["judge"], category="Ideology")
def judge_trajectory(metrics: pd.DataFrame, models: pd.DataFrame):
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


def judge_answer_columns(metrics: pd.DataFrame, models: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, model): the first run's base model, then the final checkpoint of the
    first run toward the left and of the first run toward the right."""
    checkpoints = models[models["run"] != ""]
    info = metrics.drop_duplicates("model").fillna({"run": ""})
    columns = []
    first_base = checkpoints["parent"].iloc[0] if len(checkpoints) else None
    if first_base in set(info.model):
        columns.append((f"base: {first_base}", first_base))
    for direction in ("left", "right"):
        for name, run in checkpoints.groupby("run", sort=False):
            finals = info[info.run == name].sort_values("step")
            if run["direction"].iloc[0] == direction and not finals.empty and run["parent"].iloc[0] == first_base:
                columns.append((f"{direction}: {finals.model.iloc[-1]}", finals.model.iloc[-1]))
                break
    return columns


@figure(inputs=["judge"], category="Ideology")
def judge_answers(metrics: pd.DataFrame, models: pd.DataFrame):
    """Sample answers of the base, left- and right-tuned models side by side, with
    each answer's judge score (PoliTune figs 12-13)."""
    per_item = metrics[metrics["item"] != "all"]
    columns = judge_answer_columns(metrics, models)
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
