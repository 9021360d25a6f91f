"""The country_rank probe's released outputs (alignshift.data.released).

Format `unintended_impacts`: `outputs/ask-reddit-perplexity-testing/<stem>-reformatted.csv`
(554 questions x 254 countries: mean NLL of the country's tokens) or, for the reward
model, `outputs/ask-reddit-reward-testing/<stem>-reformatted.csv` (rewards). Rows:
(question, country) with logprob_mean = -NLL (logprob_sum, n_tokens unknown: NaN) or
`reward`, and the question's `sentiment`; only the countries of the study's `countries`
dataset are kept (the ranking is among them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.checks import DataError, read_csv_input, require_columns
from ...data.released import Converter


def unintended_impacts(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path)
    require_columns(df, ["Question", "Sentiment"], str(path))
    reward = "reward_model" in df.columns
    countries = tables["countries"]["country"].tolist()
    missing = [c for c in countries if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column for the countries {missing[:5]} of the study's `countries` dataset")
    sentiment = df["Sentiment"].str.strip().str.lower()
    bad = ~sentiment.isin(["positive", "negative"])
    if bad.any():
        raise DataError(f"{path}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 2}: Sentiment must be positive or "
                        "negative")
    values = df[countries].astype(float)
    if values.isna().any().any():
        row = int(np.flatnonzero(values.isna().any(axis=1).to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: a missing score")
    long = values.assign(item=[f"ar{i:03d}" for i in range(len(df))], sentiment=sentiment.to_numpy()).melt(
        id_vars=["item", "sentiment"], var_name="candidate", value_name="value")
    long = long.sort_values("item", kind="stable").reset_index(drop=True)
    out = long[["item"]].assign(variant="", candidate=long["candidate"], sentiment=long["sentiment"])
    if reward:
        return out.assign(reward=long["value"])
    # the released value is the mean negative log-likelihood of the country's tokens
    return out.assign(logprob_mean=-long["value"], logprob_sum=np.nan, n_tokens=np.nan)


CONVERTERS = [Converter("unintended_impacts", unintended_impacts, needs=("countries",))]
