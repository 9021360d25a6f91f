"""GlobalOpinionsQA similarity (Ryan, Held, Yang 2024 sec. 5; Durmus et al. 2023).

The model's answer distribution is its option-letter probabilities renormalised over
the options; its similarity to a country is 1 - Jensen-Shannon distance to that
country's survey distribution (scipy's `jensenshannon`, log base `js_base`: with base
2 it lies in [0, 1]). The paper's released code used scipy's default natural log,
which only rescales distances by sqrt(1/ln 2) and leaves every ordering unchanged.
Each country is reported minus the reference country (the USA), per question, with a
paired bootstrap CI; a model's change of that gap from its parent is a paired test
over questions, Benjamini-Hochberg adjusted over the table.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from .stats import bootstrap_mean_ci, paired_difference, with_bh


def model_distribution(logprobs) -> np.ndarray:
    logprobs = np.asarray(logprobs, dtype=float)
    p = np.exp(logprobs - logprobs.max())
    return p / p.sum()


def similarity(p, q, base: float | None = 2) -> float:
    return float(1.0 - jensenshannon(np.asarray(p, float), np.asarray(q, float), base=base))


def item_similarities(scores: pd.DataFrame, base: float | None = 2) -> pd.DataFrame:
    """One row per (model, question, country) with the similarity."""
    rows = []
    for (model, item), group in scores.groupby(["model", "item"], sort=False):
        group = group.sort_values("candidate")
        p = model_distribution(group["logprob_sum"])
        for country, dist in json.loads(group["distributions"].iloc[0]).items():
            rows.append({"model": model, "item": item, "country": country, "similarity": similarity(p, dist, base)})
    return pd.DataFrame(rows)


def metrics(scores: pd.DataFrame, baselines: dict[str, str], spec: dict, seed: int = 0) -> pd.DataFrame:
    if scores.empty or "logprob_sum" not in scores:
        return pd.DataFrame()
    scores = scores[scores["logprob_sum"].notna()]
    sims = item_similarities(scores, spec.get("js_base", 2))
    wide = {m: g.pivot(index="item", columns="country", values="similarity") for m, g in sims.groupby("model", sort=False)}
    ref = spec["reference_country"]
    rows = []
    for model, table in wide.items():
        base = baselines.get(model)
        for country in table.columns:
            values = table[country]
            low, high = bootstrap_mean_ci(values.to_numpy(), seed=seed)
            row = {"model": model, "country": country, "similarity": float(values.mean()), "ci_low": low,
                   "ci_high": high, "n_questions": len(values)}
            if country != ref:
                gap = paired_difference(values.to_numpy(), table[ref].to_numpy(), seed=seed)
                row.update(minus_ref=gap["delta"], minus_ref_ci_low=gap["delta_ci_low"],
                           minus_ref_ci_high=gap["delta_ci_high"], minus_ref_p=gap["p_value"])
                if base and base in wide:
                    parent = wide[base]
                    common = table.index.intersection(parent.index)
                    row.update(baseline=base, **paired_difference(
                        (table.loc[common, country] - table.loc[common, ref]).to_numpy(),
                        (parent.loc[common, country] - parent.loc[common, ref]).to_numpy(), seed=seed))
            rows.append(row)
    return with_bh(pd.DataFrame(rows))
