"""The geopolitical pairs study (Bladon & Bent 2026) and the country_pairs probe."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import RUN_COLOURS, plt, figure
from . import _bars, _is_true, compared_models, lab_columns, lab_panels


@figure(inputs=["country_pairs"], category="Geopolitics")
def country_pairs_favourability(metrics: pd.DataFrame, models: pd.DataFrame):
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
def country_pairs_language(metrics: pd.DataFrame, models: pd.DataFrame):
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


@figure(inputs=["country_pairs_shift"], category="Geopolitics")
def geopolitics_home_shift(shifts: pd.DataFrame, models: pd.DataFrame):
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


@figure(inputs=["country_pairs"], category="Geopolitics")
def geopolitics_language(metrics: pd.DataFrame, models: pd.DataFrame):
    """Per model (a column per lab: base above, post-trained below): per-country
    favourability by prompt language, 95% CIs."""
    table = metrics[(metrics["language"] != "all") & ~_is_true(metrics["fictional"])]
    columns = lab_columns(table, models)
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
def geopolitics_pairs(pairs: pd.DataFrame, models: pd.DataFrame):
    """Per model: country (row) x opponent (column) mean log-odds that the row country
    acted more justifiably; all scenarios and languages, real countries."""
    table = pairs[(pairs["filter"] == "none") & (pairs["language"] == "all") & ~_is_true(pairs["fictional"])]
    columns = lab_columns(table, models)
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
