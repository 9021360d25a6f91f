"""The country_pairs probe's released outputs (alignshift.data.released).

Format `llm_bias`: recozers/LLM-Bias (Bladon & Bent 2026; no licence: read at run time,
never copied), pinned at 072e715, `country_bias_pilot/results/<folder>/<key>_raw.csv`:
one row per unordered pair, scenario and question, `country_1, country_2, scenario,
scenario_type, question, diff_fwd, diff_rev, bias, compliance`. `country_1` precedes
`country_2` in the authors' country list; `question` is `justified` ("which acted more
justifiably?") or `unjustified` ("less"); `diff_fwd` is the log-odds of choosing
country_1 over country_2 when country_1 fills the scenario's first role, averaged over
both option orders, `diff_rev` the same with country_2 first, `bias` = (diff_fwd +
diff_rev) / 2 (> 0: country_1 is picked for the question asked; not sign-flipped for
`unjustified`), `compliance` the mean P(A) + P(B) over the four prompts. One row is one
`country_pairs` item: x = country_1, y = country_2, justified -> more, unjustified ->
less, log_odds = bias. A model's file entry is `{key, folders, fictional}`: the authors'
file stem, and per-language folders (e.g. GLM-4 chat's prefill runs) replacing the
study's `released.folders` / `released.fictional`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...data.checks import DataError, read_csv_input, require_columns, require_values
from ...data.released import Converter


LLM_BIAS_COLUMNS = ["country_1", "country_2", "scenario", "scenario_type", "question", "diff_fwd", "diff_rev",
                    "bias", "compliance"]
LLM_BIAS_QUESTIONS = {"justified": "more", "unjustified": "less"}


def read_released(path: str | Path, model: str, language: str, fictional: bool, probe: str = "country_pairs"
                  ) -> pd.DataFrame:
    """One released file as item rows of the probe's score table."""
    df = read_csv_input(path)
    require_columns(df, LLM_BIAS_COLUMNS, str(path))
    require_values(df, "question", set(LLM_BIAS_QUESTIONS), str(path))
    numbers = df[["diff_fwd", "diff_rev", "bias", "compliance"]].astype(float)
    if numbers.isna().any().any():
        row = int(np.flatnonzero(numbers.isna().any(axis=1).to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: a missing number")
    bad = pd.Series(~np.isclose(numbers["bias"], (numbers["diff_fwd"] + numbers["diff_rev"]) / 2, atol=1e-6))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: bias is not (diff_fwd + diff_rev) / 2")
    question = df["question"].map(LLM_BIAS_QUESTIONS)
    out = pd.DataFrame({
        "model": model, "probe": probe,
        "item": df["scenario"] + "|" + df["country_1"] + "|" + df["country_2"] + "|" + language + "|" + question,
        "x": df["country_1"], "y": df["country_2"], "scenario": df["scenario"], "type": df["scenario_type"],
        "language": language, "question": question, "fictional": fictional,
        "log_odds": numbers["bias"], "compliance": numbers["compliance"],
        "diff_fwd": numbers["diff_fwd"], "diff_rev": numbers["diff_rev"],
    })
    duplicated = out["item"].duplicated()
    if duplicated.any():
        raise DataError(f"{path}: row {int(np.flatnonzero(duplicated.to_numpy())[0]) + 2}: a repeated "
                        "(pair, scenario, question)")
    return out


def llm_bias(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    """Every released file of one model (its real-country folder and its fictional-control
    folder per language) as country_pairs item rows."""
    if not entry.get("key"):
        raise DataError("a released llm_bias model needs `key` (the authors' file name stem)")
    frames = []
    for fictional, folders in ((False, {**(source.get("folders") or {}), **(entry.get("folders") or {})}),
                               (True, {**(source.get("fictional") or {}), **(entry.get("fictional") or {})})):
        for language, folder in folders.items():
            path, _ = fetch(f"{folder}/{entry['key']}_raw.csv")
            frames.append(read_released(path, "", language, fictional).drop(columns=["model", "probe"]))
    return pd.concat(frames, ignore_index=True)


CONVERTERS = [Converter("llm_bias", llm_bias)]
