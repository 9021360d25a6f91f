"""The where_from probe's released outputs (alignshift.data.released).

Format `unintended_impacts`: `outputs/reward-testing/where_from_<stem>.csv` (country,
reward), the countries of the study's `countries` dataset.
"""

from __future__ import annotations

import pandas as pd

from ...data.checks import read_csv_input, require_columns
from ...data.released import Converter


def unintended_impacts(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path)
    require_columns(df, ["country", "reward"], str(path))
    df = df[df["country"].isin(set(tables["countries"]["country"].tolist()))]
    return pd.DataFrame({"item": "where_from", "variant": "", "candidate": df["country"].to_numpy(),
                         "reward": df["reward"].astype(float).to_numpy()})


CONVERTERS = [Converter("unintended_impacts", unintended_impacts, needs=("countries",))]
