"""The geopolitical pairs study (Bladon & Bent 2026) and the country_pairs probe."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import style
from .lineage import is_true, lab_columns, labels, model_order
from .registry import figure
from .style import plt

FAVOURABILITY = "favourability\n(mean log-odds, 95% CI)"


def _base_post(table: pd.DataFrame, group: list, who: dict[str, str], value: str = "favourability") -> pd.DataFrame:
    """A table with a base and a post-trained column set per row (`<w>_<value>`,
    `<w>_ci_low`, `<w>_ci_high` for each prefix w of `who`) as one row per (group,
    side), the form the grouped bar plot reads; `who`: prefix -> side's name."""
    return pd.concat([pd.DataFrame({"group": group, "side": name, value: table[f"{w}_{value}"].to_numpy(),
                                    "ci_low": table[f"{w}_ci_low"].to_numpy(),
                                    "ci_high": table[f"{w}_ci_high"].to_numpy()})
                      for w, name in who.items()], ignore_index=True)


def _cell_text(value: float, low: float, high: float, digits: int) -> str:
    """A matrix cell's number, short enough for a narrow column ("-.35", "1.2"), with
    `style.MARK` where the 95% CI excludes 0."""
    if not np.isfinite(value):
        return ""
    value = value if abs(value) >= 0.5 * 10 ** -digits else 0.0  # no "-.00"
    text = f"{value:.1f}" if abs(value) >= 9.95 else f"{value:.{digits}f}".replace("0.", ".", 1)
    return text + (style.MARK if style.excludes_zero(low, high) else "")


def _digits(limit: float) -> int:
    """Decimals that give the largest |value| two significant digits (at least 2, at
    most 4): a rehearsal's near-zero favourabilities do not all read ".00"."""
    return int(min(4, max(2, 1 - np.floor(np.log10(limit))))) if limit > 0 else 2


def _lineage_order(table: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """The models of `table`, each lineage's base first, then what was made of it (a base
    shared by several runs once)."""
    return list(dict.fromkeys(m for _, members in lab_columns(table, models) for m in members))


@figure(inputs=["country_pairs"], category="Geopolitics")
def country_pairs_favourability(metrics: pd.DataFrame, models: pd.DataFrame):
    """Per-country favourability of the base model(s) and each run's final checkpoint
    (or post-trained model) as one compact matrix: a row per model, each base above what
    was made of it, lineages set apart by a gap; a column per country, real countries
    left, the fictional control right; colour and number: the mean log-odds pooled over
    every scenario, partner and prompt language, `style.MARK` where its 95% CI excludes 0.
    A matrix, not bars: a study of 14 models x 16 countries drew 224 bars too thin to read."""
    names = labels(models)
    shown = model_order(metrics, final_checkpoints=True)
    table = metrics[(metrics["language"] == "all") & metrics["model"].isin(shown)]
    order = _lineage_order(table, models)
    parents = table.drop_duplicates("model").set_index("model")["parent"].fillna("").astype(str)
    fictional = is_true(table["fictional"])
    panels = [(title, list(dict.fromkeys(table.loc[part, "country"])))
              for title, part in (("real countries", ~fictional), ("fictional control", fictional))]
    panels = [(title, countries) for title, countries in panels if countries]
    cells = table.set_index(["model", "country"])
    fig, axes = style.figure(1, max(len(panels), 1), height=1.5 + 0.19 * max(len(order), 1), sharey=True,
                             squeeze=False, width_ratios=[len(c) for _, c in panels] or [1])
    if not order or not panels:
        return style.empty(fig, axes, "no country favourability")
    matrices = {title: cells.reindex(pd.MultiIndex.from_product([order, countries])) for title, countries in panels}
    values = np.concatenate([m["favourability"].to_numpy(dtype=float) for m in matrices.values()])
    limit = (float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0) or 1.0
    digits = _digits(limit)
    for ax, (title, countries) in zip(axes[0], panels):
        part = matrices[title]
        grid = part["favourability"].to_numpy(dtype=float).reshape(len(order), len(countries))
        image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for (r, c), (value, low, high) in zip(np.ndindex(grid.shape),
                                              part[["favourability", "ci_low", "ci_high"]].to_numpy(dtype=float)):
            ax.text(c, r, _cell_text(value, low, high, digits), ha="center", va="center", fontsize=style.SMALL,
                    color="white" if abs(value) > 0.6 * limit else "black")
        # a white rule above each lineage's base (a model with no parent shown)
        for r, model in enumerate(order[1:], start=1):
            if parents.get(model, "") not in order[:r]:
                ax.axhline(r - 0.5, color="white", lw=2.5)
        ax.set_xticks(range(len(countries)), countries, rotation=90)
        ax.tick_params(length=0)
        ax.set_title(title)
    axes[0][0].set_yticks(range(len(order)), [names.get(m, m) for m in order])
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.9, label="favourability\n(mean log-odds)")
    fig.supxlabel("country")
    fig.suptitle(f"Which country acted more justifiably? Base vs fine-tuned ({style.MARK} 95% CI excludes 0)")
    return fig


@figure(inputs=["country_pairs"], category="Geopolitics")
def country_pairs_language(metrics: pd.DataFrame, models: pd.DataFrame):
    """Per-country favourability by prompt language, one panel per compared model."""
    names = labels(models)
    shown = model_order(metrics, final_checkpoints=True)
    table = metrics[(metrics.language != "all") & metrics.model.isin(shown) & ~is_true(metrics.fictional)]
    shown = _lineage_order(table, models)  # the base model first (the table lists it after the runs)
    languages = sorted(table.language.unique())
    cols = min(len(shown), 3)
    rows = -(-len(shown) // cols)
    fig, axes = style.figure(rows, cols, height=0.8 + 2.2 * rows, sharey=True, sharex=True, squeeze=False)
    for ax, model in zip(axes.flat, shown):
        style.bars(ax, table[table.model == model], "country", "language", languages, "favourability")
        ax.set_title(names.get(model, model))
        ax.tick_params(axis="x", labelrotation=90)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    fig.supylabel(FAVOURABILITY)
    style.xlabel(axes, "country")
    style.legend_below(fig, title="prompt language")
    fig.suptitle("Country favourability by prompt language")
    return fig


@figure(inputs=["country_pairs_shift"], category="Geopolitics")
def geopolitics_home_shift(shifts: pd.DataFrame, models: pd.DataFrame):
    """Per lab: home-country favourability of the base and the post-trained model, and
    the shift (chat - base) with its paired 95% CI, with and without the consistency filter."""
    home = shifts[is_true(shifts["home"]) & (shifts["language"] == "all")]
    fig, axes = style.figure(2, 1, height=5.2)
    if home.empty:
        return style.empty(fig, axes, "no model pair has a home_country")
    unfiltered = home[home["filter"] == "none"]
    groups = [f"{lab}\n({country})" for lab, country in zip(unfiltered["lab"], unfiltered["home_country"])]
    style.bars(axes[0], _base_post(unfiltered, groups, {"base": "base", "chat": "post-trained"}), "group", "side",
               ["base", "post-trained"], "favourability", palette=[style.BASE, style.POST])
    axes[0].set_ylabel("home-country\nfavourability\n(log-odds, 95% CI)")
    axes[0].set_title("base vs post-trained")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    filters = list(dict.fromkeys(home["filter"]))
    tidy = pd.concat([home[home["filter"] == f].set_index("model").reindex(unfiltered["model"])
                      .assign(group=groups) for f in filters], ignore_index=True)
    style.bars(axes[1], tidy, "group", "filter", filters, "shift", low="shift_ci_low", high="shift_ci_high",
               labels={"none": "all scenarios", "consistent": "consistent scenarios"})
    axes[1].set_ylabel("shift toward home\n(post − base,\npaired 95% CI)")
    axes[1].set_title("base → post-trained shift")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    axes[1].set_xlabel("lab (home country)")
    fig.suptitle("Do labs shift toward their home country in post-training?")
    return fig


@figure(inputs=["country_pairs"], category="Geopolitics")
def geopolitics_language(metrics: pd.DataFrame, models: pd.DataFrame):
    """Per lab (a row each: base left, post-trained right): per-country favourability by
    prompt language, 95% CIs."""
    names = labels(models)
    table = metrics[(metrics["language"] != "all") & ~is_true(metrics["fictional"])]
    columns = lab_columns(table, models)
    languages = sorted(table["language"].unique())
    n_cols = max(len(members) for _, members in columns)
    # rows of 1.05 in: eight labs fit a page (9.3 in; at 1.5 in they ran to 12.9 in)
    fig, axes = style.figure(len(columns), n_cols, height=0.9 + 1.05 * len(columns), sharey=True, sharex=True,
                             squeeze=False)
    for row, (lab, members) in zip(axes, columns):
        for ax, model in zip(row, members):
            style.bars(ax, table[table["model"] == model], "country", "language", languages, "favourability")
            ax.set_title(f"{lab}: {names.get(model, model)}" if lab != model else names.get(model, model))
            ax.tick_params(axis="x", labelrotation=90)
        for ax in row[len(members):]:
            ax.set_visible(False)
    fig.supylabel(FAVOURABILITY)
    style.xlabel(axes, "country")
    style.legend_below(fig, title="prompt language")
    fig.suptitle("Country favourability by prompt language")
    return fig


@figure(inputs=["country_pairs_pairs"], category="Geopolitics")
def geopolitics_pairs(pairs: pd.DataFrame, models: pd.DataFrame):
    """One compact matrix: a row per model (each lab's base above its post-trained
    model), a column per country pair; the colour is the mean log-odds that the pair's
    first country acted more justifiably than the second, pooled over every scenario and
    prompt language, real countries only."""
    names = labels(models)
    table = pairs[(pairs["filter"] == "none") & (pairs["language"] == "all") & ~is_true(pairs["fictional"])]
    order = [m for _, members in lab_columns(table, models) for m in members]
    countries = sorted(table["country"].unique())
    pair_names = [(a, b) for i, a in enumerate(countries) for b in countries[i + 1:]]
    values = table.set_index(["model", "country", "opponent"])["log_odds"]
    matrix = np.array([[values.get((m, a, b), np.nan) for a, b in pair_names] for m in order], dtype=float)
    fig, ax = style.figure(height=1.6 + 0.17 * len(order) + 0.08 * max(len(c) for c in countries or [""]) * 2)
    if not order:
        return style.empty(fig, ax, "no country pair")
    limit = float(np.nanmax(np.abs(matrix))) if np.isfinite(matrix).any() else 1.0
    image = ax.imshow(matrix, cmap="RdBu", vmin=-(limit or 1.0), vmax=limit or 1.0, aspect="auto")
    ax.set_xticks(range(len(pair_names)), [f"{a} – {b}" for a, b in pair_names], rotation=90)
    ax.set_yticks(range(len(order)), [names.get(m, m) for m in order])
    ax.set_xlabel("country pair (first – second)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="mean log-odds,\nfirst over second")
    ax.set_title("Which country acted more justifiably? All scenarios and prompt languages pooled")
    return fig


# ---- the paper's figures (Bladon & Bent 2026), from the paper's statistics ----

def _paper_filter(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's rows: the coherent (`consistent`) scenarios when the study filters."""
    filters = set(table["filter"]) if "filter" in table else set()
    return table[table["filter"] == "consistent"] if "consistent" in filters else table[table["filter"] == "none"] \
        if filters else table


@figure(inputs=["country_pairs_maker"], category="Geopolitics")
def geopolitics_china_favourability(maker: pd.DataFrame, models: pd.DataFrame):
    """The paper's Figure 1: per base -> post pair, the maker country's (China's)
    favourability of the base and the post-trained model with 95% CIs, and the change."""
    table = _paper_filter(maker)
    fig, ax = style.figure(height=3.2)
    if table.empty:
        return style.empty(fig, ax, "no base -> post pair in the study")
    country, language = table["country"].iloc[0], table["language"].iloc[0]
    groups = [f"{lab}\n({'+' if sign > 0 else '−'})" for lab, sign in zip(table["lab"], table["sign"])]
    style.bars(ax, _base_post(table, groups, {"base": "base", "post": "post-trained"}), "group", "side",
               ["base", "post-trained"], "favourability", palette=[style.BASE, style.POST])
    for x, change, top in zip(range(len(table)), table["change"], table[["base_ci_high", "post_ci_high"]].max(axis=1)):
        ax.annotate(f"{change:+.2f}", (x, max(top, 0)), textcoords="offset points", xytext=(0, 2), ha="center",
                    va="bottom")
    ax.margins(y=0.15)
    ax.set_ylabel(f"{country} favourability\n({language} prompts; log-odds, 95% CI)")
    ax.set_xlabel(f"lab of the base → post-trained pair: (+) based in {country}, (−) elsewhere")
    n = table["n_scenarios"].iloc[0] if "n_scenarios" in table else ""
    ax.set_title(f"{country} favourability, base vs post-trained ({n} scenarios)")
    handles, names = ax.get_legend_handles_labels()
    # the numbers above the pairs explained by a text-only entry (a "$+0.1$" marker
    # drew smeared at legend size)
    change = plt.matplotlib.lines.Line2D([], [], ls="none")
    ax.legend(handles + [change], names + ["number above a pair:\nchange (post − base)"], loc="upper left",
              bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


@figure(inputs=["country_pairs_language", "country_pairs_maker"], category="Geopolitics")
def geopolitics_language_shift(language: pd.DataFrame, maker: pd.DataFrame, models: pd.DataFrame):
    """Per base -> post pair and prompt language: the maker country's (China's)
    favourability in that language minus in the reference language (English), base and
    post-trained, with 95% CIs paired over scenario types."""
    table, pairs = _paper_filter(language), _paper_filter(maker)
    languages = sorted(table["language"].unique()) if not table.empty else []
    fig, axes = style.figure(1, max(len(languages), 1), height=3.0, sharey=True, squeeze=False)
    if table.empty or pairs.empty:
        return style.empty(fig, axes[0], "no language shift to show")
    country = pairs["country"].iloc[0]
    table = table[table["country"] == country].set_index(["model", "language"])
    reference = table["reference"].iloc[0] if len(table) else "en"
    for ax, lang in zip(axes[0], languages):
        sides = []
        for column, side in (("base", "base"), ("model", "post-trained")):
            rows = table.reindex([(m, lang) for m in pairs[column]])
            sides.append(pd.DataFrame({"lab": pairs["lab"].to_numpy(), "side": side, "shift": rows["shift"].to_numpy(),
                                       "ci_low": rows["ci_low"].to_numpy(), "ci_high": rows["ci_high"].to_numpy()}))
        style.bars(ax, pd.concat(sides, ignore_index=True), "lab", "side", ["base", "post-trained"], "shift",
                   palette=[style.BASE, style.POST])
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_title(f"{lang.upper()} prompts − {reference.upper()} prompts")
    axes[0][0].set_ylabel(f"shift in {country} favourability\n(log-odds, 95% CI)")
    style.xlabel(axes, "lab")
    style.legend_below(fig)
    fig.suptitle(f"Prompt language and {country} favourability")
    return fig


@figure(inputs=["country_pairs_type_means"], category="Geopolitics")
def geopolitics_type_heatmap(type_means: pd.DataFrame, models: pd.DataFrame):
    """Per model (rows, base above post-trained) and scenario type (columns): China's
    mean favourability over the type's items, English prompts, coherent scenarios."""
    names = labels(models)
    table = _paper_filter(type_means)
    table = table[~is_true(table["fictional"])]
    country = "China" if (table["country"] == "China").any() else (table["country"].iloc[0] if len(table) else "")
    language = "en" if (table["language"] == "en").any() else (table["language"].iloc[0] if len(table) else "")
    table = table[(table["country"] == country) & (table["language"] == language)]
    order = [m for m in models["model"] if m in set(table["model"])]
    fig, ax = style.figure(height=1.8 + 0.22 * max(len(order), 1))
    if table.empty:
        return style.empty(fig, ax, "no scenario-type means")
    matrix = table.pivot_table(index="model", columns="type", values="favourability", aggfunc="first").reindex(order)
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    digits = _digits(limit)
    for r in range(matrix.shape[0]):
        for c in range(matrix.shape[1]):
            value = matrix.iat[r, c]
            if np.isfinite(value):
                value = value if abs(value) >= 0.5 * 10 ** -digits else 0.0  # no "-0.00"
                ax.text(c, r, f"{value:.{digits}f}", ha="center", va="center",
                        color="white" if abs(value) > 0.6 * limit else "black")
    # upright: at 45° the twelve types of the released bank overlapped ("cyber", "espionage")
    ax.set_xticks(range(matrix.shape[1]), [str(t).replace("_", " ") for t in matrix.columns], rotation=90)
    ax.set_yticks(range(matrix.shape[0]), [names.get(m, m) for m in matrix.index])
    ax.set_xlabel("scenario type")
    fig.colorbar(image, ax=ax, shrink=0.8, label=f"{country} favourability\n(mean log-odds)")
    ax.set_title(f"{country} favourability by scenario type ({language} prompts)")
    return fig
