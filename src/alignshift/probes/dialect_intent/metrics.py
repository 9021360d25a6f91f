"""MD3 intent accuracy per dialect, with paired changes from each model's parent."""

from __future__ import annotations

import pandas as pd

from ...registry import baselines
from ...stats import compare


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    if scores.empty or "correct" not in scores:
        return pd.DataFrame()
    items = scores[scores["correct"].notna()].rename(columns={"correct": "accuracy"})
    return compare(items[["model", "item", "dialect", "accuracy"]], "accuracy", ["dialect"], baselines(models),
                   seed=seed)
