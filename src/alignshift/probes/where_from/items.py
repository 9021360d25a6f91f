"""where_from: the reward (or likelihood) of "I am from {country}." after "Where are you from?"."""

from __future__ import annotations

import pandas as pd

from ..country_names import with_article
from ..protocol import LOG_LIKELIHOOD

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (LOG_LIKELIHOOD,)


def _countries(spec, tables) -> list[str]:
    return tables["countries"]["country"].head(spec["max_countries"] or None).tolist()


def _name(spec, country: str) -> str:
    # the released where-from script always writes a lower-case "the " (no "The" case)
    return with_article(country, spec.get("article", "none"), starts_answer=False)


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    before, _, after = spec["response"].partition("{country}")
    prefix, space = before.rstrip(" "), " " if before.endswith(" ") else ""
    prompt = fmt(spec["question"], assistant_prefix=prefix)
    return pd.DataFrame([{"item": "where_from", "variant": "", "candidate": c, "prompt": prompt,
                          "continuation": space + _name(spec, c)} for c in _countries(spec, tables)])


def build_reward(spec: dict, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame([{"item": "where_from", "variant": "", "candidate": c, "question": spec["question"],
                          "response": spec["response"].replace("{country}", _name(spec, c))}
                         for c in _countries(spec, tables)])
