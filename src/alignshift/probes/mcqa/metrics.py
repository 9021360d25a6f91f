"""Belebele accuracy per language: the letter with the highest log-probability."""

from __future__ import annotations

import pandas as pd

from ...registry import baselines
from ...stats import compare


def item_correct(scores: pd.DataFrame) -> pd.DataFrame:
    best = scores.loc[scores.groupby(["model", "item"], sort=False)["logprob_sum"].idxmax()]
    return best.assign(accuracy=(best["candidate"] == best["gold"]).astype(float))[
        ["model", "item", "language", "accuracy"]]


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    if scores.empty or "logprob_sum" not in scores:
        return pd.DataFrame()
    scores = scores[scores["logprob_sum"].notna()].reset_index(drop=True)
    return compare(item_correct(scores), "accuracy", ["language"], baselines(models), seed=seed)
