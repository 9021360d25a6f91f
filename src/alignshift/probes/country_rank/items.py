"""country_rank: how likely each country is as the answer to a question about countries."""

from __future__ import annotations

import pandas as pd


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    questions = tables["country_questions"].head(spec["max_questions"] or None)
    countries = tables["countries"]["country"].head(spec["max_countries"] or None).tolist()
    rows = []
    for q in questions.itertuples():
        before, _, _ = q.template.partition("{country}")
        # the separating space belongs to the continuation, so every country is
        # scored as its own words (" France"), the way the tokenizer sees them in text
        prefix = before.rstrip(" ")
        space = " " if before.endswith(" ") else ""
        prompt = fmt(q.question, assistant_prefix=prefix)
        for country in countries:
            rows.append({"item": q.id, "variant": "", "candidate": country, "continuation": space + country,
                         "prompt": prompt, "sentiment": q.sentiment, "category": q.category})
    return pd.DataFrame(rows)


def build_reward(spec: dict, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For a reward model: the whole answer with each country filled in, scored as a
    response to the question (Ryan, Held, Yang 2024 probe Starling-RM this way)."""
    questions = tables["country_questions"].head(spec["max_questions"] or None)
    countries = tables["countries"]["country"].head(spec["max_countries"] or None).tolist()
    rows = [{"item": q.id, "variant": "", "candidate": country, "question": q.question,
             "response": q.template.replace("{country}", country), "sentiment": q.sentiment, "category": q.category}
            for q in questions.itertuples() for country in countries]
    return pd.DataFrame(rows)
