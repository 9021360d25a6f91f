"""Country rankings from per-question scores (Ryan, Held, Yang 2024, sec. on AskRedditCountries).

Each question ranks every country by its score (LM log-likelihood of the country in
the response template, or a reward model's reward): rank 1 is the country the question
favours most in the positive sense, so for negative questions ("which country is the
worst ...") the order is inverted. A country's rank is its mean over questions; models
are compared by the Spearman correlation of their mean ranks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .stats import bootstrap_mean_ci, paired_difference


def question_ranks(scores: pd.DataFrame) -> pd.DataFrame:
    """Add `rank` (1 = most favoured) per question; ties get the average rank."""
    out = scores.copy()
    signed = np.where(out["sentiment"].eq("negative"), -out["score"], out["score"])
    out["rank"] = pd.Series(signed, index=out.index).groupby(out["question"]).rank(ascending=False, method="average")
    return out


def mean_rank(scores: pd.DataFrame) -> pd.Series:
    """Mean rank per country (lower = favoured)."""
    return question_ranks(scores).groupby("country")["rank"].mean()


def rank_correlation_matrix(mean_ranks: dict[str, pd.Series]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spearman rho and p between every pair of models over their common countries."""
    names = list(mean_ranks)
    rho = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    p = pd.DataFrame(np.zeros((len(names), len(names))), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = mean_ranks[a].index.intersection(mean_ranks[b].index)
            r, pv = stats.spearmanr(mean_ranks[a][common], mean_ranks[b][common])
            rho.loc[a, b] = rho.loc[b, a] = r
            p.loc[a, b] = p.loc[b, a] = pv
    return rho, p


def rank_metrics(scores: pd.DataFrame, baselines: dict[str, str], seed: int = 0,
                 statistic: str = "logprob_sum") -> pd.DataFrame:
    """Per (model, country): mean rank with bootstrap CI over questions, and the paired
    change of rank from the model's baseline."""
    score = scores[statistic] if statistic in scores else pd.Series(np.nan, index=scores.index)
    if "reward" in scores:  # reward models' rows carry a reward instead of log-probabilities
        score = score.where(scores["reward"].isna(), scores["reward"])
    table = scores.rename(columns={"item": "question", "candidate": "country"}).assign(score=score)
    ranked = pd.concat([question_ranks(g) for _, g in table.groupby("model", sort=False)])
    rows = []
    for (model, country), group in ranked.groupby(["model", "country"], sort=False):
        values = group.set_index("question")["rank"]
        low, high = bootstrap_mean_ci(values.to_numpy(), seed=seed)
        row = {"model": model, "country": country, "mean_rank": values.mean(), "ci_low": low, "ci_high": high,
               "n_questions": len(values)}
        base = baselines.get(model)
        if base is not None and base != model:
            ref = ranked[(ranked.model == base) & (ranked.country == country)].set_index("question")["rank"]
            common = values.index.intersection(ref.index)
            row.update(baseline=base, **paired_difference(values[common].to_numpy(), ref[common].to_numpy(), seed=seed))
        rows.append(row)
    return pd.DataFrame(rows)


def metrics(scores: pd.DataFrame, baselines: dict[str, str], spec: dict, seed: int = 0) -> pd.DataFrame:
    return rank_metrics(scores, baselines, seed=seed, statistic=spec["statistic"])


def gallup_correlation(rewards_csv, countries_txt, gallup_csv, year: int) -> tuple[float, float]:
    """Spearman (rho, p) between the reward model's country ranking and Gallup's US
    favourability order of `year`, using the released AskRedditCountries files.

    The rewards table has one row per question (metadata columns, then one column per
    country); it is restricted to the 181-country list, ranked per question (negative
    questions inverted) and averaged per country. Gallup ranks 1 = most favourable;
    the correlation is taken over the Gallup countries present in the ranking.
    """
    rewards = pd.read_csv(rewards_csv)
    countries = [c.strip() for c in open(countries_txt, encoding="utf-8") if c.strip()]
    present = [c for c in countries if c in rewards.columns]
    long = rewards.melt(id_vars=["Question", "Sentiment"], value_vars=present, var_name="country", value_name="score")
    long = long.rename(columns={"Question": "question", "Sentiment": "sentiment"})
    long["sentiment"] = long["sentiment"].str.lower()
    ranks = mean_rank(long)
    gallup = pd.read_csv(gallup_csv)
    order = gallup[gallup["year"] == year].set_index("country")["rank"]
    common = order.index.intersection(ranks.index)
    rho, p = stats.spearmanr(order[common], ranks[common])
    return float(rho), float(p)
