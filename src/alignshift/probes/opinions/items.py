"""opinions: GlobalOpinionsQA option probabilities, compared with each country's answers."""

from __future__ import annotations

import json
import string

import pandas as pd

from ..protocol import LOG_LIKELIHOOD

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (LOG_LIKELIHOOD,)


def questions(spec: dict, table: pd.DataFrame) -> pd.DataFrame:
    """One row per question asked in every country of `spec['countries']`, with those
    countries' distributions (JSON) - the paper's 7-country filter."""
    wanted = list(spec["countries"])
    part = table[table["country"].isin(wanted)]
    complete = part.groupby("item")["country"].nunique() == len(wanted)
    part = part[part["item"].isin(complete[complete].index)]
    rows = []
    for item, group in part.groupby("item", sort=False):
        first = group.iloc[0]
        rows.append({"item": item, "question": first["question"], "options": list(first["options"]),
                     "distributions": json.dumps({c: list(map(float, d)) for c, d in
                                                  zip(group["country"], group["distribution"])})})
    return pd.DataFrame(rows).head(spec["max_questions"] or None)


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    rows = []
    for q in questions(spec, tables["global_opinions"]).itertuples():
        letters = string.ascii_uppercase[: len(q.options)]
        listing = "\n".join(f"({letter}) {option}" for letter, option in zip(letters, q.options))
        prompt = spec["prompt"].format(question=q.question, options=listing)
        for letter in letters:
            # the prompt ends in "(": each option is its letter and the closing ")"
            rows.append({"item": q.item, "variant": "", "candidate": letter, "prompt": prompt,
                         "continuation": f"{letter})", "n_options": len(letters), "distributions": q.distributions})
    return pd.DataFrame(rows)
