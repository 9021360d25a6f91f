"""The opinions probe's released outputs (alignshift.data.released).

Format `unintended_impacts`: `outputs/globalopinionsqa/<stem>.csv` (2556 rows in dataset
order: question, options, probs = the model's option probabilities, exp(-mean NLL)
normalised, then one column per country = 1 - Jensen-Shannon distance (natural log) or
-1.0 where the country was not asked). Rows: one per (question, option) with
logprob_mean = logprob_sum = log(prob), and the released similarities (JSON) of the
spec's `countries`; questions not asked in all of them are dropped (-> 245).
"""

from __future__ import annotations

import ast
import json

import numpy as np
import pandas as pd

from ...data.checks import DataError, read_csv_input, require_present
from ...data.released import Converter


def unintended_impacts(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path)
    require_present(df, ["question", "options", "probs"], path)
    countries = list(spec["countries"])
    require_present(df, countries, path)
    sims = df[countries].astype(float)
    # asked in every country of the filter (-1.0: not asked); as in the authors' filter a
    # missing similarity (NaN: one question of the release) does not drop the question,
    # and the analysis leaves it out of that country's mean
    asked = ~(sims == -1.0).any(axis=1)
    rows = []
    for i in np.flatnonzero(asked.to_numpy()):
        probs = ast.literal_eval(df["probs"].iat[i])
        options = ast.literal_eval(df["options"].iat[i])
        if len(probs) != len(options):
            raise DataError(f"{path}: row {i + 2}: {len(probs)} probabilities for {len(options)} options")
        similarities = json.dumps({c: float(sims[c].iat[i]) for c in countries})
        for k, p in enumerate(probs):
            letter = chr(ord("A") + k)
            lp = float(np.log(p)) if p > 0 else -np.inf
            rows.append({"item": f"q{i:04d}", "variant": "", "candidate": letter, "continuation": f"{letter})",
                         "n_options": len(probs), "logprob_sum": lp, "logprob_mean": lp, "n_tokens": np.nan,
                         "similarities": similarities})
    return pd.DataFrame(rows)


CONVERTERS = [Converter("unintended_impacts", unintended_impacts)]
