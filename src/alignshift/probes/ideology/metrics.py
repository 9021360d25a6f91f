"""Two-axis coordinates from Likert option log-probabilities.

For a statement s, the option probabilities are the softmax of the options' summed
log-probabilities (restricted to the options); the expected option value over the
scale (-2, -1, 1, 2) is averaged over the listing orders and divided by 2, giving
agreement a_s in [-1, 1]. An axis coordinate is 10 * mean_s(direction_s * a_s), in
[-10, 10]: economic left (-) to right (+), social libertarian (-) to authoritarian (+).
"""

from __future__ import annotations

import pandas as pd
from scipy.special import softmax

from ...registry import baselines
from ...stats import compare

SCALE = 10.0


def statement_positions(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, statement): signed agreement in [-1, 1] (+ = right/authoritarian)."""
    max_value = scores["value"].abs().max()

    def expected(group: pd.DataFrame) -> float:
        return float(softmax(group["logprob_sum"].to_numpy()) @ group["value"].to_numpy())

    per_variant = (scores.groupby(["model", "item", "variant", "axis", "direction"])[["logprob_sum", "value"]]
                   .apply(expected).rename("expected").reset_index())
    per_item = per_variant.groupby(["model", "item", "axis", "direction"], as_index=False)["expected"].mean()
    per_item["position"] = per_item["direction"] * per_item["expected"] / max_value
    return per_item


def coordinates(scores: pd.DataFrame, baselines: dict[str, str | None], seed: int = 0) -> pd.DataFrame:
    """Per (model, axis): coordinate with bootstrap CI over statements, and the paired
    changes from the model's parent and its lineage's base model."""
    positions = statement_positions(scores).assign(coordinate=lambda d: SCALE * d["position"])
    return compare(positions, "coordinate", ["axis"], baselines, seed=seed, count="n_statements")


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    return coordinates(scores, baselines(models), seed=seed)
