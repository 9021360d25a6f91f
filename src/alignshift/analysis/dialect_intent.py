"""MD3 intent accuracy per dialect, with paired changes from each model's parent."""

from __future__ import annotations

import pandas as pd

from .stats import item_metrics_by_group


def metrics(scores: pd.DataFrame, baselines: dict[str, str], spec: dict, seed: int = 0) -> pd.DataFrame:
    if scores.empty or "correct" not in scores:
        return pd.DataFrame()
    items = scores[scores["correct"].notna()].rename(columns={"correct": "accuracy"})
    return item_metrics_by_group(items[["model", "item", "dialect", "accuracy"]], "accuracy", "dialect",
                                 baselines, seed=seed)
