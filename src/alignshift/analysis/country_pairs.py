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

from .stats import bootstrap_mean_ci, paired_difference


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


def favourability(scores: pd.DataFrame, baselines: dict[str, str], by_language: bool = False,
                  seed: int = 0) -> pd.DataFrame:
    """Per (model, country[, language]): mean favourability with bootstrap CI over items,
    mean compliance, and the paired change from the model's baseline."""
    view = country_view(item_scores(scores))
    keys = ["country", "fictional"] + (["language"] if by_language else [])
    rows = []
    for (model, *key), group in view.groupby(["model"] + keys):
        values = group.set_index(["item"])["favour"]
        low, high = bootstrap_mean_ci(values.to_numpy(), seed=seed)
        row = {"model": model, **dict(zip(keys, key)), "favourability": values.mean(), "ci_low": low,
               "ci_high": high, "compliance": group["compliance"].mean(), "n_items": len(values)}
        base = baselines.get(model)
        if base is not None and base != model:
            ref = view[(view.model == base)]
            for k, v in zip(keys, key):
                ref = ref[ref[k] == v]
            ref = ref.set_index("item")["favour"]
            common = values.index.intersection(ref.index)
            row.update(baseline=base, **paired_difference(values[common].to_numpy(), ref[common].to_numpy(), seed=seed))
        rows.append(row)
    return pd.DataFrame(rows)


def metrics(scores: pd.DataFrame, baselines: dict[str, str], spec: dict, seed: int = 0) -> pd.DataFrame:
    """The probe's metrics table: favourability over all languages (`language` = all)
    and per prompt language."""
    return pd.concat([
        favourability(scores, baselines, seed=seed).assign(language="all"),
        favourability(scores, baselines, by_language=True, seed=seed),
    ], ignore_index=True)
