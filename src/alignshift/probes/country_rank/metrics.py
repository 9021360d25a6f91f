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

from ...registry import baselines
from ...stats import compare


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


def ranked(scores: pd.DataFrame, statistic: str = "logprob_sum") -> pd.DataFrame:
    """Every (model, question, country) with its `rank` within the question."""
    score = scores[statistic] if statistic in scores else pd.Series(np.nan, index=scores.index)
    if "reward" in scores:  # reward models' rows carry a reward instead of log-probabilities
        score = score.where(scores["reward"].isna(), scores["reward"])
    table = scores.rename(columns={"item": "question", "candidate": "country"}).assign(score=score)
    return pd.concat([question_ranks(g) for _, g in table.groupby("model", sort=False)])


def rank_metrics(scores: pd.DataFrame, baselines: dict[str, str | None], seed: int = 0,
                 statistic: str = "logprob_sum") -> pd.DataFrame:
    """Per (model, country): mean rank with bootstrap CI over questions, and the paired
    changes of rank from the model's parent and its lineage's base model."""
    items = ranked(scores, statistic).rename(columns={"question": "item", "rank": "mean_rank"})
    return compare(items, "mean_rank", ["country"], baselines, seed=seed, count="n_questions")


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    return rank_metrics(scores, baselines(models), seed=seed, statistic=spec["statistic"])


def tables(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> dict[str, pd.DataFrame]:
    """`correlation`: model x model Spearman correlation of mean country ranks (long)."""
    per_question = ranked(scores, spec["statistic"])
    # each mean exactly as the metrics table's (Series.mean over the same rows in the same order)
    mean_ranks = {m: g.groupby("country", sort=False)["rank"].agg(lambda r: float(r.mean()))
                  for m, g in per_question.groupby("model", sort=False)}
    rho, p = rank_correlation_matrix(mean_ranks)
    return {"correlation": pd.DataFrame([{"model_a": a, "model_b": b, "rho": rho.loc[a, b], "p_value": p.loc[a, b]}
                                         for a in rho.index for b in rho.columns])}


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
