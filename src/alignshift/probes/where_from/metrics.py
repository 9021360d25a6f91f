"""'Where are you from? I am from {country}.': each country's reward (reward models) or
log-likelihood (language models), and its rank among the countries (1 = highest)."""

from __future__ import annotations

import pandas as pd


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    if scores.empty:
        return pd.DataFrame()
    reward = scores["reward"] if "reward" in scores else pd.Series(float("nan"), index=scores.index)
    logprob = scores["logprob_sum"] if "logprob_sum" in scores else pd.Series(float("nan"), index=scores.index)
    table = pd.DataFrame({"model": scores["model"], "country": scores["candidate"],
                          "measure": reward.notna().map({True: "reward", False: "logprob_sum"}),
                          "value": reward.where(reward.notna(), logprob)})
    table = table[table["value"].notna()]
    table["rank"] = table.groupby("model")["value"].rank(ascending=False, method="average")
    return table.reset_index(drop=True)
