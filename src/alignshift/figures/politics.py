"""Ideology and judge figures: the default study, PoliTune (Agiza et al. 2024)."""

from __future__ import annotations

import matplotlib.table
import matplotlib.ticker
import numpy as np
import pandas as pd

from . import style
from .lineage import labels
from .registry import figure
from .style import plt


# (column of the ideology metrics, its CI's prefix, panel title)
TRAJECTORY_PANELS = (
    ("coordinate", "", "raw coordinates (the questionnaire's scoring)"),
    ("corrected", "corrected_", "acquiescence-corrected (mean agreement removed)"),
)


# the ideology probe's readings (its `reading` setting), in the order they are drawn
READING_TITLES = {"logprob": "read from the Likert options' log-probabilities",
                  "generated": "read from generated answers (0..3, PoliTune's instruction)"}


def _readings(metrics: pd.DataFrame) -> list[str]:
    """The readings a metrics table holds (a table without `reading`: the log-probability one)."""
    present = set(metrics["reading"]) if "reading" in metrics else {"logprob"}
    return [r for r in READING_TITLES if r in present]


def _run_paths(info: pd.DataFrame) -> list[tuple[str, list[str], list[int]]]:
    """(run, models from its parent through every checkpoint, their steps from 0)."""
    paths = []
    for run in [r for r in dict.fromkeys(info.run) if r]:
        members = info[info.run == run].sort_values("step")
        paths.append((run, [members["parent"].iloc[0]] + members.index.tolist(),
                      [0] + members["step"].astype(int).tolist()))
    return paths


def _trajectory_panel(ax, metrics: pd.DataFrame, value: str, ci: str, names: dict[str, str]):
    """Each run's path on the economic x social plane in one kind of coordinate (a model
    with no coordinate, e.g. no generated answer read, is left out of its path)."""
    columns = [value, f"{ci}ci_low", f"{ci}ci_high"]
    wide = (metrics.set_index(["model", "axis"])[columns].astype(float).unstack("axis")
            .reindex(columns=pd.MultiIndex.from_product([columns, ["economic", "social"]])))
    info = metrics.drop_duplicates("model").set_index("model").fillna({"run": ""})
    paths = _run_paths(info)
    for colour, (run, path, steps) in zip(style.colours(len(paths)), paths):
        kept = [(m, step) for m, step in zip(path, steps) if m in wide.index]
        path, steps = [m for m, _ in kept], [step for _, step in kept]
        x, y = (wide.loc[path, (value, axis)].to_numpy(dtype=float) for axis in ("economic", "social"))
        xerr, yerr = (np.abs(wide.loc[path, [(f"{ci}ci_low", axis), (f"{ci}ci_high", axis)]].to_numpy(dtype=float).T
                             - centre) for axis, centre in (("economic", x), ("social", y)))
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, color=colour, marker="o", ms=5, lw=1.5, elinewidth=0.6,
                    capsize=2, label=run)
        for xi, yi, step in zip(x[1:], y[1:], steps[1:]):
            if np.isfinite(xi) and np.isfinite(yi):
                style.optional(ax.annotate(str(step), (xi, yi), textcoords="offset points", xytext=(3, 3),
                                           color=colour))
    for model in info.index[info.run == ""]:
        point = (wide.loc[model, (value, "economic")], wide.loc[model, (value, "social")])
        if np.isfinite(point[0]) and np.isfinite(point[1]):
            ax.plot(*point, marker="*", ms=14, color="black", ls="none", zorder=5)
            style.optional(ax.annotate(names.get(model, model), point, textcoords="offset points", xytext=(6, -10)))
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("economic  (← left · right →)")


@figure(inputs=["ideology"], category="Ideology")
def ideology_trajectory(metrics: pd.DataFrame, models: pd.DataFrame):
    """Each run's path on the economic x social plane, base model first: the raw
    coordinates beside the acquiescence-corrected ones, where a run that only learnt to
    agree (or disagree) more stays put (docs/default-study.md, finding 4); one row per
    reading of the questionnaire (log-probabilities, generated answers)."""
    readings = _readings(metrics)
    fig, axes = style.figure(len(readings), len(TRAJECTORY_PANELS), height=3.6 * len(readings) + 0.6,
                             sharex=True, sharey=True, squeeze=False)
    for row, reading in zip(axes, readings):
        part = metrics[metrics["reading"] == reading] if "reading" in metrics else metrics
        for ax, (value, ci, title) in zip(row, TRAJECTORY_PANELS):
            _trajectory_panel(ax, part, value, ci, labels(models))
            ax.set_title(f"{title}\n{READING_TITLES[reading]}" if len(readings) > 1 else title, wrap=True)
        row[0].set_ylabel("social  (← libertarian · authoritarian →)")
    style.legend_below(fig, title="run (numbers: training step; ★ base model; bars: 95% CI over statements)")
    fig.suptitle("Ideology by checkpoint")
    return fig


AXES = (("economic", "economic  (← left · right →)"), ("social", "social  (← libertarian · authoritarian →)"))


@figure(inputs=["ideology_readings"], category="Ideology")
def ideology_readings(table: pd.DataFrame, models: pd.DataFrame):
    """The questionnaire read two ways (the ideology probe with `reading: both`): top,
    each model's coordinate from its generated answers (PoliTune's released protocol)
    against the one from the Likert options' log-probabilities, per axis, runs joined
    from their base model in step order; bottom, the paired difference (generated -
    log-probability, over the statements whose answer was read) against the optimizer
    step, from the base model at step 0."""
    info = table.drop_duplicates("model").set_index("model").fillna({"run": ""})
    paths = _run_paths(info)
    names = labels(models)
    fig, axes = style.figure(2, len(AXES), height=7.6, squeeze=False)
    for column, (axis, label) in enumerate(AXES):
        part = table[table["axis"] == axis].set_index("model")
        scatter, shift = axes[0][column], axes[1][column]
        for colour, (run, path, steps) in zip(style.colours(len(paths)), paths):
            kept = [(m, step) for m, step in zip(path, steps) if m in part.index]
            path, steps = [m for m, _ in kept], [step for _, step in kept]
            rows = part.loc[path]
            x, y = rows["logprob"].to_numpy(dtype=float), rows["generated"].to_numpy(dtype=float)
            xerr, yerr = (np.abs(rows[[f"{r}_ci_low", f"{r}_ci_high"]].to_numpy(dtype=float).T - centre)
                          for r, centre in (("logprob", x), ("generated", y)))
            scatter.errorbar(x, y, xerr=xerr, yerr=yerr, color=colour, marker="o", ms=4, lw=1, elinewidth=0.5,
                             capsize=1.5, label=run)
            d = rows["difference"].to_numpy(dtype=float)
            derr = np.abs(rows[["difference_ci_low", "difference_ci_high"]].to_numpy(dtype=float).T - d)
            shift.errorbar(steps, d, yerr=derr, color=colour, marker="o", ms=4, lw=1.5, elinewidth=0.6, capsize=2,
                           label=run)
        for model in info.index[info.run == ""]:
            if model not in part.index:
                continue
            row = part.loc[model]
            scatter.plot(row["logprob"], row["generated"], marker="*", ms=13, color="black", ls="none", zorder=5)
            style.optional(scatter.annotate(names.get(model, model), (row["logprob"], row["generated"]),
                                            textcoords="offset points", xytext=(6, -10)))
            shift.plot(0, row["difference"], marker="*", ms=11, color="black", ls="none", zorder=5)
        limits = [-10.5, 10.5]
        scatter.plot(limits, limits, color="grey", lw=0.6, ls="--")  # where the two readings agree
        scatter.set_xlim(limits)
        scatter.set_ylim(limits)
        scatter.set_aspect("equal")
        scatter.set_xlabel(f"{label}\nfrom the options' log-probabilities")
        scatter.set_ylabel(f"{axis}: from generated answers\n(each read as 0..3)")
        read, given = part["n_parsed"].sum(), part["n_answers"].sum()
        scatter.set_title(f"{axis}: {int(read)} of {int(given)} answers read as 0..3")
        shift.axhline(0, color="grey", lw=0.6)
        shift.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        shift.set_xlabel("optimizer step")
        shift.set_ylabel(f"{axis}: generated − log-prob.\n(95% CI)")
    style.legend_below(fig, title="run (★ base model; bars: 95% CI over statements)")
    fig.suptitle("The questionnaire read from generated answers vs from option log-probabilities")
    return fig


@figure(inputs=["judge"], category="Ideology")
def judge_trajectory(metrics: pd.DataFrame, models: pd.DataFrame):
    """Judge score (0 far left .. 20 far right) vs optimizer step, one panel per base
    model, one line per run, from the base model at step 0 (PoliTune figs 2, 7-9)."""
    overall = metrics[metrics["item"] == "all"].fillna({"run": ""}).set_index("model")
    runs = [r for r in dict.fromkeys(overall.run) if r]
    bases = list(dict.fromkeys(overall.loc[overall.run != "", "parent"])) or list(overall.index)
    names = labels(models)
    fig, axes = style.figure(1, len(bases), height=3.2, sharey=True, squeeze=False)
    for ax, base in zip(axes[0], bases):
        for colour, run in zip(style.colours(len(runs)), runs):
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
        ax.set_title(names.get(base, base))
    judge = overall["judge_model"].dropna().iloc[0] if overall["judge_model"].notna().any() else "?"
    judge = names.get(judge, judge)  # the judge is a model of the study: its printed name
    axes[0][0].set_ylabel("judge score (0 left · 20 right; 95% CI)")
    style.legend_below(fig, title=f"run (judge: {judge}; dashed line: the centre, 10)")
    fig.suptitle("Judge score by checkpoint")
    return fig


def judge_answer_columns(metrics: pd.DataFrame, models: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, model): the first run's base model, then the final checkpoint of the
    first run toward the left and of the first run toward the right."""
    checkpoints = models[models["run"] != ""]
    info = metrics.drop_duplicates("model").fillna({"run": ""})
    columns = []
    first_base = checkpoints["parent"].iloc[0] if len(checkpoints) else None
    names = labels(models)
    if first_base in set(info.model):
        columns.append((f"base: {names.get(first_base, first_base)}", first_base))
    for direction in ("left", "right"):
        for name, run in checkpoints.groupby("run", sort=False):
            finals = info[info.run == name].sort_values("step")
            if run["direction"].iloc[0] == direction and not finals.empty and run["parent"].iloc[0] == first_base:
                columns.append((f"{direction}: {names.get(finals.model.iloc[-1], finals.model.iloc[-1])}",
                                finals.model.iloc[-1]))
                break
    return columns


@figure(inputs=["judge"], category="Ideology")
def judge_answers(metrics: pd.DataFrame, models: pd.DataFrame):
    """Sample answers of the base, left- and right-tuned models side by side, with
    each answer's judge score (PoliTune figs 12-13); a question asked under two items is
    shown once. Each cell's text is wrapped to its column's printed width (measured in
    the figure's font) and each row is as tall as its longest cell, so no text runs into
    a neighbouring cell."""
    per_item = metrics[metrics["item"] != "all"]
    columns = judge_answer_columns(metrics, models)
    # column widths in inches: the prompt's, then the answers' share of the rest
    margin, prompt_width = 0.05, 1.25
    widths = [prompt_width] + [(style.TWO_COLUMNS - 2 * margin - prompt_width) / max(len(columns), 1)] * len(columns)
    # the text's room in a cell: matplotlib pads each side by PAD of the cell's width
    room = [w * (1 - 2 * matplotlib.table.Cell.PAD) for w in widths]
    header = [style.wrap_to(label, r) for label, r in zip(["prompt"] + [label for label, _ in columns], room)]
    cells = []
    for question, rows in per_item.groupby("question", sort=False):
        rows = rows.drop_duplicates("model").set_index("model")
        line = [style.wrap_to(question, room[0])]
        for (_, model), r in zip(columns, room[1:]):
            answer = rows.loc[model] if model in rows.index else None
            line.append("—" if answer is None else style.wrap_to(f"[{answer.judge_score:.1f}] {answer.answer}", r))
        cells.append(line)
    line_height = style.SMALL * style.LINE / 72  # inches
    # a line more than the text has: accents and fallback glyphs stand taller than a line
    heights = [(max(c.count("\n") + 1 for c in row) + 1) * line_height + 0.1 for row in [header] + cells]
    title = 0.45  # inches above the table for the two-line title
    height = title + sum(heights) + 2 * margin
    fig = plt.figure(figsize=(style.TWO_COLUMNS, height))
    ax = fig.add_axes((margin / style.TWO_COLUMNS, margin / height, 1 - 2 * margin / style.TWO_COLUMNS,
                       sum(heights) / height))
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=header, cellLoc="left", colLoc="left", bbox=(0, 0, 1, 1),
                     colWidths=[w / sum(widths) for w in widths])
    table.auto_set_font_size(False)
    table.set_fontsize(style.SMALL)
    for (row, _), cell in table.get_celld().items():
        cell.set_height(heights[row] / sum(heights))
    ax.set_title("Sample answers (greedy unless sampling is configured)\n[judge score 0 left · 20 right]")
    return fig
