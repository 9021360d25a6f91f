"""GlobalOpinionsQA similarity (Ryan, Held, Yang 2024 sec. 5; Durmus et al. 2023).

The model's answer distribution is exp(`analysis.statistic`) of each option letter,
renormalised over the options: with `logprob_mean` (the default) p_i = exp(-mean NLL
per token of option i), as the paper's code computes it. Its similarity to a country is
1 - the Jensen-Shannon *distance* to that country's survey distribution (scipy's
`jensenshannon`; `js_base` null = natural log, the paper's; 2 puts it in [0, 1]).
Score tables converted from the paper's released outputs carry those similarities
already (`similarities`, JSON), which are used as they are.
Each country is reported minus the reference country (the USA), per question
(`minus_ref`), averaged over the questions asked in all the spec's countries (245 in
the paper), with a paired bootstrap CI; a model's change of that gap from its parent is
a paired test over questions, Benjamini-Hochberg adjusted over the table. The paper's
text numbers are -100 x `minus_ref` ("USA minus Jordan", in percentage points).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from ...registry import baselines
from ...stats import compare


def model_distribution(logprobs) -> np.ndarray:
    logprobs = np.asarray(logprobs, dtype=float)
    p = np.exp(logprobs - logprobs.max())
    return p / p.sum()


def similarity(p, q, base: float | None = None) -> float:
    return float(1.0 - jensenshannon(np.asarray(p, float), np.asarray(q, float), base=base))


def item_similarities(scores: pd.DataFrame, base: float | None = None, statistic: str = "logprob_mean"
                      ) -> pd.DataFrame:
    """One row per (model, question, country) with the similarity: computed from the
    option scores and the countries' distributions, or taken from a released table's
    `similarities`."""
    rows = []
    for (model, item), group in scores.groupby(["model", "item"], sort=False):
        released = group["similarities"].iloc[0] if "similarities" in group else None
        if isinstance(released, str):
            rows += [{"model": model, "item": item, "country": c, "similarity": float(v)}
                     for c, v in json.loads(released).items()]
            continue
        group = group.sort_values("candidate")
        p = model_distribution(group[statistic])
        for country, dist in json.loads(group["distributions"].iloc[0]).items():
            rows.append({"model": model, "item": item, "country": country, "similarity": similarity(p, dist, base)})
    return pd.DataFrame(rows)


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    """Per (model, country): similarity with its CI; for each country but the reference,
    the per-question gap to the reference country (`minus_ref`, its CI and Wilcoxon p)
    and that gap's paired change from the model's parent and base model."""
    statistic = (spec.get("analysis") or {}).get("statistic", "logprob_mean")
    if scores.empty or statistic not in scores:
        return pd.DataFrame()
    scores = scores[scores[statistic].notna()]
    sims = item_similarities(scores, spec.get("js_base"), statistic)
    # a similarity that cannot be computed (a degenerate distribution; NaN in one question
    # of the paper's release) leaves that question out of that country's mean
    sims = sims[sims["similarity"].notna()]
    ref = spec["reference_country"]
    similarity_table = compare(sims, "similarity", ["country"], {}, seed=seed, count="n_questions")
    gaps = sims.merge(sims[sims.country == ref][["model", "item", "similarity"]], on=["model", "item"],
                      suffixes=("", "_ref"))
    gaps = gaps[gaps.country != ref].assign(minus_ref=lambda d: d["similarity"] - d["similarity_ref"])
    gap_table = compare(gaps, "minus_ref", ["country"], baselines(models), seed=seed, count=None, test_zero=True)
    gap_table = gap_table.rename(columns={"ci_low": "minus_ref_ci_low", "ci_high": "minus_ref_ci_high"})
    return similarity_table.drop(columns=["p_adjusted"]).merge(gap_table, on=["model", "country"], how="left")
