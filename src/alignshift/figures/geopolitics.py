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


# ---- the paper's figures (Bladon & Bent 2026), from the paper's statistics ----

def _paper_filter(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's rows: the coherent (`consistent`) scenarios when the study filters."""
    filters = set(table["filter"]) if "filter" in table else set()
    return table[table["filter"] == "consistent"] if "consistent" in filters else table[table["filter"] == "none"] \
        if filters else table


def _empty(fig, axes, text):
    for ax in np.atleast_1d(axes):
        ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
    return fig


@figure(inputs=["country_pairs_maker"], category="Geopolitics")
def geopolitics_china_favourability(maker: pd.DataFrame, models: pd.DataFrame):
    """The paper's Figure 1: per base -> post pair, the maker country's (China's)
    favourability of the base and the post-trained model with 95% CIs, and the change."""
    table = _paper_filter(maker)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    if table.empty:
        return _empty(fig, ax, "no base -> post pair in the study")
    country, language = table["country"].iloc[0], table["language"].iloc[0]
    labels = [f"{lab}\n({'+' if sign > 0 else '-'})" for lab, sign in zip(table["lab"], table["sign"])]
    pos = np.arange(len(table))
    for offset, who, colour in ((-0.2, "base", RUN_COLOURS[0]), (0.2, "post", RUN_COLOURS[1])):
        value = table[f"{who}_favourability"].to_numpy()
        err = np.abs(table[[f"{who}_ci_low", f"{who}_ci_high"]].to_numpy().T - value)
        ax.bar(pos + offset, value, 0.4, yerr=err, color=colour, capsize=2, label=who,
               error_kw={"elinewidth": 0.7})
    for x, change, top in zip(pos, table["change"], table[["base_ci_high", "post_ci_high"]].max(axis=1)):
        ax.text(x, max(top, 0) + 0.1, f"{change:+.2f}", ha="center", va="bottom", fontsize=8)
    ax.margins(y=0.12)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xticks(pos, labels, fontsize=8)
    ax.set_ylabel(f"{country} favourability ({language}; log-odds, 95% CI)")
    n = table["n_scenarios"].iloc[0] if "n_scenarios" in table else ""
    ax.set_title(f"{country} favourability, base vs post-trained ({n} scenarios); label: change (post - base)",
                 fontsize=9)
    ax.legend(fontsize=8)
    return fig


@figure(inputs=["country_pairs_language", "country_pairs_maker"], category="Geopolitics")
def geopolitics_language_shift(language: pd.DataFrame, maker: pd.DataFrame, models: pd.DataFrame):
    """Per base -> post pair and prompt language: the maker country's (China's)
    favourability in that language minus in the reference language (English), base and
    post-trained, with 95% CIs paired over scenario types."""
    table, pairs = _paper_filter(language), _paper_filter(maker)
    languages = sorted(table["language"].unique()) if not table.empty else []
    fig, axes = plt.subplots(1, max(len(languages), 1), figsize=(6 * max(len(languages), 1), 4.2), sharey=True,
                             squeeze=False)
    if table.empty or pairs.empty:
        return _empty(fig, axes[0], "no language shift to show")
    country = pairs["country"].iloc[0]
    table = table[table["country"] == country].set_index(["model", "language"])
    pos = np.arange(len(pairs))
    for ax, lang in zip(axes[0], languages):
        for offset, column, colour, label in ((-0.2, "base", RUN_COLOURS[0], "base"),
                                              (0.2, "model", RUN_COLOURS[1], "post")):
            rows = table.reindex([(m, lang) for m in pairs[column]])
            value = rows["shift"].to_numpy()
            err = np.abs(rows[["ci_low", "ci_high"]].to_numpy().T - value)
            ax.bar(pos + offset, value, 0.4, yerr=err, color=colour, capsize=2, label=label,
                   error_kw={"elinewidth": 0.7})
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xticks(pos, pairs["lab"], fontsize=8, rotation=30, ha="right")
        reference = table["reference"].iloc[0] if len(table) else "en"
        ax.set_title(f"{lang.upper()} - {reference.upper()}", fontsize=9)
    axes[0][0].set_ylabel(f"shift in {country} favourability (log-odds, 95% CI)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Prompt language and {country} favourability")
    return fig


@figure(inputs=["country_pairs_type_means"], category="Geopolitics")
def geopolitics_type_heatmap(type_means: pd.DataFrame, models: pd.DataFrame):
    """Per model (rows, base above post-trained) and scenario type (columns): China's
    mean favourability over the type's items, English prompts, coherent scenarios."""
    table = _paper_filter(type_means)
    table = table[~_is_true(table["fictional"])]
    country = "China" if (table["country"] == "China").any() else (table["country"].iloc[0] if len(table) else "")
    language = "en" if (table["language"] == "en").any() else (table["language"].iloc[0] if len(table) else "")
    table = table[(table["country"] == country) & (table["language"] == language)]
    fig, ax = plt.subplots(figsize=(10, 6))
    if table.empty:
        return _empty(fig, ax, "no scenario-type means")
    order = [m for m in models["model"] if m in set(table["model"])]
    matrix = table.pivot_table(index="model", columns="type", values="favourability", aggfunc="first").reindex(order)
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for r in range(matrix.shape[0]):
        for c in range(matrix.shape[1]):
            value = matrix.iat[r, c]
            if np.isfinite(value):
                ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.7, label=f"{country} favourability (mean log-odds)")
    ax.set_title(f"{country} favourability by scenario type ({language} prompts)", fontsize=9)
    return fig
