"""TyDiQA GoldP: CFMatch (the paper's metric, when the study runs it) and SQuAD F1 per
language, with changes from parent and base; exact match alongside.

Every measure is in 0..1, as `f1` and `em` are. The `cfmatch` measure is the paper's
score when the judged table has `cfmatch_score`: per question the largest probability
of "correct" over the gold answers, averaged per (model, language) (the paper prints
100 x it); tables judged before that column existed give the share of answers CFMatch
classifies correct."""

from __future__ import annotations

import pandas as pd

from ...registry import baselines
from ...stats import bootstrap_mean_ci, compare


def measures(scores: pd.DataFrame) -> list[str]:
    """CFMatch first when the scores carry it (rule cfmatch), then SQuAD F1."""
    has_cfmatch = "cfmatch" in scores and scores["cfmatch"].notna().any()
    return ["cfmatch", "f1"] if has_cfmatch else ["f1"]


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    """One row per (measure, model, language): `value` with its CI and paired changes.
    Benjamini-Hochberg runs within a measure (one figure panel's comparisons)."""
    if scores.empty or "f1" not in scores:
        return pd.DataFrame()
    scores = scores[scores["f1"].notna()]
    parents = baselines(models)
    if "cfmatch_score" in scores and scores["cfmatch_score"].notna().any():
        scores = scores.assign(cfmatch=scores["cfmatch_score"])
    table = pd.concat([
        compare(scores[["model", "item", "language", m]].rename(columns={m: "value"}), "value", ["language"],
                parents, seed=seed).assign(measure=m)
        for m in measures(scores)], ignore_index=True)
    em = scores.groupby(["model", "language"], sort=False)["em"]
    extra = em.agg(em="mean").reset_index()
    ci = em.apply(lambda v: bootstrap_mean_ci(v.to_numpy(), seed=seed))
    extra["em_ci_low"] = [c[0] for c in ci]
    extra["em_ci_high"] = [c[1] for c in ci]
    return table.merge(extra, on=["model", "language"], how="left")
