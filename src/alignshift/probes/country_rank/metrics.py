"""Country rankings from per-question scores (Ryan, Held, Yang 2024, sec. on AskRedditCountries).

Each question ranks every country of the study by its score (a language model's
`statistic` of the country's tokens in the response template, by default the mean
log-probability per token, i.e. minus the mean NLL the paper's code ranks by; or a
reward model's reward): rank 1 is the preferred answer, so for a positive question the
most likely (highest reward) country, for a negative question ("which country is the
worst ...") the least likely (lowest reward) one. A country's rank is its mean over the
questions. Models are compared by the Spearman correlation of their mean ranks (the
paper's figure 6); `standing` places each country in a model's order (the paper's "the
USA out-ranks 99.4% of the other countries"); `reference_tables` compares the order with
reference orders such as Gallup's US favourability rankings (table 3 and the 0.926 /
0.849 correlations). Ties within a question share the average rank (the paper's code
broke them by sort order; on its released rewards the two differ by < 0.004 in a mean
rank and in no reported number).
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


def ranked(scores: pd.DataFrame, statistic: str = "logprob_mean") -> pd.DataFrame:
    """Every (model, question, country) with its `rank` within the question."""
    score = scores[statistic] if statistic in scores else pd.Series(np.nan, index=scores.index)
    if "reward" in scores:  # reward models' rows carry a reward instead of log-probabilities
        score = score.where(scores["reward"].isna(), scores["reward"])
    table = scores.rename(columns={"item": "question", "candidate": "country"}).assign(score=score)
    return pd.concat([question_ranks(g) for _, g in table.groupby("model", sort=False)])


def rank_metrics(scores: pd.DataFrame, baselines: dict[str, str | None], seed: int = 0,
                 statistic: str = "logprob_mean") -> pd.DataFrame:
    """Per (model, country): mean rank with bootstrap CI over questions, and the paired
    changes of rank from the model's parent and its lineage's base model."""
    items = ranked(scores, statistic).rename(columns={"question": "item", "rank": "mean_rank"})
    return compare(items, "mean_rank", ["country"], baselines, seed=seed, count="n_questions")


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    return rank_metrics(scores, baselines(models), seed=seed, statistic=spec["statistic"])


def model_mean_ranks(scores: pd.DataFrame, statistic: str) -> dict[str, pd.Series]:
    """Each model's mean rank per country (in the scores' country order)."""
    per_question = ranked(scores, statistic)
    # each mean exactly as the metrics table's (Series.mean over the same rows in the same order)
    return {m: g.groupby("country", sort=False)["rank"].agg(lambda r: float(r.mean()))
            for m, g in per_question.groupby("model", sort=False)}


def standing(mean_ranks: pd.Series) -> pd.DataFrame:
    """Each country's place in one model's order: `position` (1 = lowest mean rank),
    and `outranks`, the share of the other countries with a higher (worse) mean rank."""
    n = len(mean_ranks)
    worse = np.array([(mean_ranks > v).sum() for v in mean_ranks.to_numpy()])
    return pd.DataFrame({"country": mean_ranks.index, "mean_rank": mean_ranks.to_numpy(),
                         "position": mean_ranks.rank(method="min").astype(int).to_numpy(),
                         "outranks": worse / max(n - 1, 1)})


def tables(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> dict[str, pd.DataFrame]:
    """`correlation`: model x model Spearman correlation of mean country ranks (long);
    `standing`: each country's position in each model's order."""
    mean_ranks = model_mean_ranks(scores, spec["statistic"])
    rho, p = rank_correlation_matrix(mean_ranks)
    correlation = pd.DataFrame([{"model_a": a, "model_b": b, "rho": rho.loc[a, b], "p_value": p.loc[a, b]}
                                for a in rho.index for b in rho.columns])
    places = [standing(r).assign(model=m) for m, r in mean_ranks.items()]
    place = pd.concat(places, ignore_index=True) if places else pd.DataFrame(
        columns=["model", "country", "mean_rank", "position", "outranks"])
    return {"correlation": correlation, "standing": place[["model", "country", "mean_rank", "position", "outranks"]]}


def reference_tables(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, orders: pd.DataFrame
                     ) -> dict[str, pd.DataFrame]:
    """Each model's country order against reference orders (`orders`: order, rank,
    country; rank 1 = most favoured, e.g. Gallup's US favourability of 2017 and 2023).

    `correlation`: per (model, order, countries) the Spearman rho and p between the
    model's mean ranks and the order, over `countries` = `order` (every country of that
    order the model ranks: the paper's 0.926 / 0.849 on 21 countries) or `common` (the
    countries of every order). `ranks` (the paper's table 3): per (model, country) of the
    common countries, the mean rank, its rank among them (`final`), and the country's
    position among them in each order (`order_<name>`).
    """
    mean_ranks = model_mean_ranks(scores, spec["statistic"])
    by_order = {str(o): g.sort_values("rank").set_index("country")["rank"] for o, g in orders.groupby("order", sort=False)}
    rows, table = [], []
    for model, ranks in mean_ranks.items():
        common = [c for c in next(iter(by_order.values())).index
                  if all(c in o.index for o in by_order.values()) and c in ranks.index]
        for name, order in by_order.items():
            for label, countries in (("order", [c for c in order.index if c in ranks.index]), ("common", common)):
                if len(countries) < 3:
                    continue
                rho, p = stats.spearmanr(ranks[countries].to_numpy(), order[countries].to_numpy())
                rows.append({"model": model, "order": name, "countries": label, "n": len(countries),
                             "rho": float(rho), "p_value": float(p)})
        if common:
            part = pd.DataFrame({"model": model, "country": common, "mean_rank": ranks[common].to_numpy()})
            part["final"] = part["mean_rank"].rank(method="min").astype(int)
            for name, order in by_order.items():
                part[f"order_{name}"] = order[common].rank(method="min").astype(int).to_numpy()
            table.append(part.sort_values("final", kind="stable"))
    return {"correlation": pd.DataFrame(rows), "ranks": pd.concat(table, ignore_index=True) if table else pd.DataFrame()}
