"""country_rank: how likely each country is as the answer to a question about countries."""

from __future__ import annotations

import pandas as pd

from ..country_names import with_article
from ..protocol import LOG_LIKELIHOOD

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (LOG_LIKELIHOOD,)


def _inputs(spec, tables):
    questions = tables["country_questions"].head(spec["max_questions"] or None)
    countries = tables["countries"]["country"].head(spec["max_countries"] or None).tolist()
    return questions, countries


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    questions, countries = _inputs(spec, tables)
    released_join = spec.get("prefix_join", "direct") == "space_strip"
    article = spec.get("article", "none")
    rows = []
    for q in questions.itertuples():
        before, _, _ = q.template.partition("{country}")
        starts = q.template.startswith("{country}")
        if released_join:
            # the released script: prompt = (template'd question + " " + words before the
            # slot).strip(); the answer is " " + [the ]country
            prompt, space = fmt(q.question, assistant_prefix=before), " "
        else:
            # the separating space belongs to the continuation, so every country is
            # scored as its own words (" France"), the way the tokenizer sees them in text
            prompt = fmt(q.question, assistant_prefix=before.rstrip(" "))
            space = " " if before.endswith(" ") else ""
        for country in countries:
            rows.append({"item": q.id, "variant": "", "candidate": country,
                         "continuation": space + with_article(country, article, starts),
                         "prompt": prompt, "sentiment": q.sentiment, "category": q.category})
    return pd.DataFrame(rows)


def build_reward(spec: dict, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For a reward model: the whole answer with each country filled in, scored as a
    response to the question (Ryan, Held, Yang 2024 probe Starling-RM this way)."""
    questions, countries = _inputs(spec, tables)
    article = spec.get("article", "none")
    rows = [{"item": q.id, "variant": "", "candidate": country, "question": q.question,
             "response": q.template.replace("{country}",
                                            with_article(country, article, q.template.startswith("{country}"))),
             "sentiment": q.sentiment, "category": q.category}
            for q in questions.itertuples() for country in countries]
    return pd.DataFrame(rows)
