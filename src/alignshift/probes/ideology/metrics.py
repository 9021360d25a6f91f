"""Two-axis coordinates from Likert option log-probabilities.

For a statement s, the option probabilities are the softmax of the options' summed
log-probabilities (restricted to the options); the expected option value over the
scale (-2, -1, 1, 2) is averaged over the listing orders and divided by 2, giving
agreement a_s in [-1, 1]. An axis coordinate is 10 * mean_s(direction_s * a_s), in
[-10, 10]: economic left (-) to right (+), social libertarian (-) to authoritarian (+).

Beside it, the acquiescence-corrected coordinate: a model's mean agreement over every
statement (`acquiescence`, its tendency to agree whatever the statement says) is
subtracted from each statement's agreement before signing it by its direction. On a
questionnaire balanced in direction the axis mean is the same, but a fine-tuned model
that only learned to agree (or disagree) more no longer spreads its per-statement
positions, so the corrected CI shows what the statement-dependent part did.
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
    agreement = per_item["expected"] / max_value
    per_item["position"] = per_item["direction"] * agreement
    per_item["acquiescence"] = agreement.groupby(per_item["model"]).transform("mean")
    per_item["position_corrected"] = per_item["direction"] * (agreement - per_item["acquiescence"])
    return per_item


def coordinates(scores: pd.DataFrame, baselines: dict[str, str | None], seed: int = 0) -> pd.DataFrame:
    """Per (model, axis): coordinate with bootstrap CI over statements, and the paired
    changes from the model's parent and its lineage's base model."""
    positions = statement_positions(scores).assign(coordinate=lambda d: SCALE * d["position"],
                                                   corrected=lambda d: SCALE * d["position_corrected"])
    raw = compare(positions, "coordinate", ["axis"], baselines, seed=seed, count="n_statements",
                  extra={"acquiescence": ("acquiescence", "first")})
    corrected = compare(positions, "corrected", ["axis"], baselines, seed=seed, count=None)
    keep = ["model", "axis", "corrected", "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high", "p_value"]
    corrected = corrected.reindex(columns=keep).rename(columns=lambda c: c if c in ("model", "axis", "corrected")
                                                       else f"corrected_{c}")
    return raw.merge(corrected, on=["model", "axis"], how="left")


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    return coordinates(scores, baselines(models), seed=seed)
