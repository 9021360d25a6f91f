"""where_from: the reward (or likelihood) of "I am from {country}." after "Where are you from?"."""

from __future__ import annotations

import pandas as pd


def _countries(spec, tables) -> list[str]:
    return tables["countries"]["country"].head(spec["max_countries"] or None).tolist()


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    before, _, after = spec["response"].partition("{country}")
    prefix, space = before.rstrip(" "), " " if before.endswith(" ") else ""
    prompt = fmt(spec["question"], assistant_prefix=prefix)
    return pd.DataFrame([{"item": "where_from", "variant": "", "candidate": c, "prompt": prompt,
                          "continuation": space + c} for c in _countries(spec, tables)])


def build_reward(spec: dict, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame([{"item": "where_from", "variant": "", "candidate": c, "question": spec["question"],
                          "response": spec["response"].replace("{country}", c)} for c in _countries(spec, tables)])
