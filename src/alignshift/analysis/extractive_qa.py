"""TyDiQA GoldP: SQuAD F1 (and exact match) per language, with changes from parent and base."""

from __future__ import annotations

import pandas as pd

from .stats import bootstrap_mean_ci, item_metrics_by_group


def metrics(scores: pd.DataFrame, baselines: dict[str, str], spec: dict, seed: int = 0) -> pd.DataFrame:
    if scores.empty or "f1" not in scores:
        return pd.DataFrame()
    scores = scores[scores["f1"].notna()]
    table = item_metrics_by_group(scores[["model", "item", "language", "f1"]], "f1", "language", baselines, seed)
    em = scores.groupby(["model", "language"], sort=False)["em"]
    extra = em.agg(em="mean").reset_index()
    ci = em.apply(lambda v: bootstrap_mean_ci(v.to_numpy(), seed=seed))
    extra["em_ci_low"] = [c[0] for c in ci]
    extra["em_ci_high"] = [c[1] for c in ci]
    return table.merge(extra, on=["model", "language"], how="left")
