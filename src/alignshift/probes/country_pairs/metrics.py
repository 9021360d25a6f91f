"""Country favourability from forced choices.

For one prompt, log P(letter) sums the probabilities of the letter's token variants;
the raw score is log P(x's letter) - log P(y's letter) for the pair (x, y), and
compliance is P(A) + P(B). An item (scenario, pair, language, question) scores the
mean of its four prompts (both option orders, both role assignments), negated for
"less justifiably" questions. A country's favourability is the mean over the items
it appears in of the score oriented toward it (+ = judged more justified).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from scipy import stats as st

from ...registry import baselines
from ...stats import benjamini_hochberg, bootstrap_mean_ci, compare, paired_difference, sign_test


def prompt_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, item, variant): raw log-odds for x over y and compliance."""
    letters = (scores.groupby(["model", "item", "variant", "letter", "country"], as_index=False)["logprob_sum"]
               .agg(lambda v: logsumexp(v.to_numpy())))
    meta = scores.drop_duplicates(["model", "item"]).set_index(["model", "item"])[
        ["x", "y", "scenario", "type", "language", "question", "fictional"]]
    wide = letters.pivot_table(index=["model", "item", "variant"], columns="country", values="logprob_sum",
                               aggfunc="first")
    out = []
    for (model, item, variant), row in wide.iterrows():
        m = meta.loc[(model, item)]
        lx, ly = row[m.x], row[m.y]
        out.append({"model": model, "item": item, "variant": variant, "log_odds": lx - ly,
                    "compliance": float(np.exp(lx) + np.exp(ly)), **m.to_dict()})
    return pd.DataFrame(out)


def item_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, item): the order- and role-averaged score for x over y."""
    per_prompt = prompt_scores(scores)
    keys = ["model", "item", "x", "y", "scenario", "type", "language", "question", "fictional"]
    items = per_prompt.groupby(keys, as_index=False).agg(log_odds=("log_odds", "mean"),
                                                          compliance=("compliance", "mean"))
    items["score"] = np.where(items["question"] == "less", -items["log_odds"], items["log_odds"])
    return items


def country_view(items: pd.DataFrame) -> pd.DataFrame:
    """Each item twice, once oriented toward each of its two countries."""
    as_x = items.assign(country=items.x, opponent=items.y, favour=items.score)
    as_y = items.assign(country=items.y, opponent=items.x, favour=-items.score)
    return pd.concat([as_x, as_y], ignore_index=True)


def favourability(scores: pd.DataFrame, baselines: dict[str, str | None], by_language: bool = False,
                  seed: int = 0) -> pd.DataFrame:
    """Per (model, country[, language]): mean favourability with bootstrap CI over items,
    mean compliance, and the paired changes from the model's parent and base model."""
    view = country_view(item_scores(scores))
    keys = ["country", "fictional"] + (["language"] if by_language else [])
    return compare(view, "favour", keys, baselines, seed=seed, extra={"compliance": ("compliance", "mean")}).rename(
        columns={"favour": "favourability"})


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    """The probe's metrics table: favourability over all languages (`language` = all)
    and per prompt language."""
    parents = baselines(models)
    return pd.concat([
        favourability(scores, parents, seed=seed).assign(language="all"),
        favourability(scores, parents, by_language=True, seed=seed),
    ], ignore_index=True)


# ---- the geopolitical pairs study (Bladon & Bent 2026): base -> chat shifts per lab ----
# tables() writes the study's further metrics tables, each with a `filter` column:
# `none` (every scenario) or `consistent` (only the scenarios that pass the
# consistency filter), so every result is reported with and without it.

def consistent_scenarios(items: pd.DataFrame, share: float) -> list[str]:
    """Scenarios whose "more" and "less" answers flip sign in at least `share` of the models.

    A model flips on one instance (scenario, pair, language) when its order- and
    role-averaged raw log-odds for x over y have opposite signs under the two
    questions; it counts as consistent on a scenario when it flips on at least half of
    the scenario's instances.
    """
    raw = items.pivot_table(index=["model", "scenario", "x", "y", "language"], columns="question",
                            values="log_odds", aggfunc="first")
    if not {"more", "less"} <= set(raw.columns):
        raise ValueError("the consistency filter needs both questions (probes.country_pairs.questions: [more, less])")
    raw = raw.dropna(subset=["more", "less"])
    flips = (np.sign(raw["more"]) * np.sign(raw["less"]) < 0).astype(float)
    per_model = flips.groupby(level=["model", "scenario"]).mean() >= 0.5
    models_share = per_model.groupby(level="scenario").mean()
    return sorted(models_share.index[models_share >= share])


def filtered_items(items: pd.DataFrame, spec: dict) -> dict[str, pd.DataFrame]:
    """{"none": all items, "consistent": items of the scenarios kept by the filter}; the
    filter is left out when `analysis.consistency_share` is null or only one question is asked."""
    out = {"none": items}
    share = (spec.get("analysis") or {}).get("consistency_share")
    if share is not None and {"more", "less"} <= set(items["question"]):
        keep = consistent_scenarios(items, share)
        out["consistent"] = items[items["scenario"].isin(keep)]
    return out


def model_pairs(models: pd.DataFrame, scored: list[str]) -> list[dict]:
    """(lab, base, chat, home country) for every scored model whose parent is scored too."""
    info = models.set_index("model")
    out = []
    for name in scored:
        base = info.at[name, "parent"]
        if base in info.index and base in scored:
            out.append({"lab": info.at[name, "lab"] or info.at[base, "lab"], "base": base, "model": name,
                        "home_country": info.at[name, "home_country"] or info.at[base, "home_country"]})
    return out


def _by_item(group: pd.DataFrame) -> pd.Series:
    return group.set_index("item")["favour"]


def shift_table(view: pd.DataFrame, pairs: list[dict], seed: int = 0) -> pd.DataFrame:
    """Per (pair, country, language): base and chat favourability with bootstrap CIs and
    the shift (chat - base) with a paired bootstrap 95% CI over the items both answered."""
    rows = []
    groups = {key: g for key, g in view.groupby(["model", "country"])}
    languages = ["all"] + sorted(view["language"].unique())
    for pair in pairs:
        countries = sorted({c for m, c in groups if m == pair["model"]} & {c for m, c in groups if m == pair["base"]})
        for country in countries:
            chat_all, base_all = groups[pair["model"], country], groups[pair["base"], country]
            for language in languages:
                chat, base = chat_all, base_all
                if language != "all":
                    chat, base = chat[chat.language == language], base[base.language == language]
                chat, base = _by_item(chat), _by_item(base)
                common = chat.index.intersection(base.index)
                if common.empty:
                    continue
                after, before = chat[common].to_numpy(), base[common].to_numpy()
                diff = paired_difference(after, before, seed=seed)
                b_low, b_high = bootstrap_mean_ci(before, seed=seed)
                c_low, c_high = bootstrap_mean_ci(after, seed=seed)
                rows.append({**pair, "country": country, "fictional": bool(chat_all["fictional"].iloc[0]),
                             "home": country == pair["home_country"], "language": language,
                             "base_favourability": before.mean(), "base_ci_low": b_low, "base_ci_high": b_high,
                             "chat_favourability": after.mean(), "chat_ci_low": c_low, "chat_ci_high": c_high,
                             "shift": diff["delta"], "shift_ci_low": diff["delta_ci_low"],
                             "shift_ci_high": diff["delta_ci_high"], "p_value": diff["p_value"],
                             "test": diff["test"], "n_items": len(common)})
    return pd.DataFrame(rows)


def type_tests(view: pd.DataFrame, pairs: list[dict]) -> pd.DataFrame:
    """Per (pair, country, scenario type): paired t-test of chat vs base favourability
    over the type's items (all languages), BH-adjusted across every test of the table."""
    rows = []
    for pair in pairs:
        chat = view[view.model == pair["model"]].set_index(["country", "type", "item"])["favour"]
        base = view[view.model == pair["base"]].set_index(["country", "type", "item"])["favour"]
        common = chat.index.intersection(base.index)
        both = pd.DataFrame({"chat": chat[common], "base": base[common]})
        for (country, kind), g in both.groupby(level=["country", "type"]):
            diff = g["chat"] - g["base"]
            # a t-test needs two items and some spread; otherwise it is not run (p = NaN)
            if len(g) > 1 and diff.std() > 0:
                t, p = st.ttest_rel(g["chat"], g["base"])
            else:
                t, p = np.nan, np.nan
            rows.append({**pair, "country": country, "home": country == pair["home_country"], "type": kind,
                         "shift": diff.mean(), "t": float(t), "p_value": float(p), "n_items": len(g)})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["q_value"] = benjamini_hochberg(out["p_value"])
        out["test"] = "paired t-test over items; Benjamini-Hochberg across the table's tests"
    return out


def pair_table(view: pd.DataFrame) -> pd.DataFrame:
    """Per (model, language, country, opponent): mean log-odds that `country` acted more
    justifiably than `opponent` (order- and role-averaged, "less" questions sign-flipped)."""
    keys = ["model", "country", "opponent", "fictional"]
    per_language = view.groupby(keys + ["language"], as_index=False).agg(
        log_odds=("favour", "mean"), compliance=("compliance", "mean"), n_items=("favour", "size"))
    overall = view.groupby(keys, as_index=False).agg(
        log_odds=("favour", "mean"), compliance=("compliance", "mean"), n_items=("favour", "size"))
    return pd.concat([overall.assign(language="all"), per_language], ignore_index=True)


def home_test(shifts: pd.DataFrame) -> pd.DataFrame:
    """Per (filter, language): the exact binomial test that labs shift toward their home
    country, one trial per (base, chat) pair with a home country, success = its
    home-country favourability rose from base to chat."""
    rows = []
    if shifts.empty:
        return pd.DataFrame(columns=["filter", "language", "n", "n_positive", "p_value", "test",
                                     "toward_home", "away_from_home"])
    home = shifts[shifts["home"].astype(bool)]
    for (filt, language), g in home.groupby(["filter", "language"], sort=False):
        rows.append({"filter": filt, "language": language, **sign_test(g["shift"].to_numpy()),
                     "toward_home": ";".join(g.loc[g["shift"] > 0, "lab"].astype(str)),
                     "away_from_home": ";".join(g.loc[g["shift"] < 0, "lab"].astype(str))})
    return pd.DataFrame(rows)


def tables(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The study's further tables (spec `tables`), each computed with and without the
    consistency filter (`filter` column): base -> chat shift per lab and country, the
    type-wise t-tests, the country x country log-odds, the binomial home-country test."""
    items = item_scores(scores)
    scored = list(dict.fromkeys(items["model"]))
    pairs = model_pairs(models, scored)
    out = {name: [] for name in ("shift", "pairs", "types")}
    for filt, subset in filtered_items(items, spec).items():
        view = country_view(subset)
        n_scenarios = subset["scenario"].nunique()
        out["shift"].append(shift_table(view, pairs, seed=seed).assign(filter=filt, n_scenarios=n_scenarios))
        out["types"].append(type_tests(view, pairs).assign(filter=filt))
        out["pairs"].append(pair_table(view).assign(filter=filt, n_scenarios=n_scenarios))
    result = {name: pd.concat(frames, ignore_index=True) for name, frames in out.items()}
    result["home"] = home_test(result["shift"])
    return result
