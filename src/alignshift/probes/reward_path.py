"""How a reward model reads a probe: whole (question, response) texts, scored."""

from __future__ import annotations

import pandas as pd

from ..rewards import reward_scores
from .protocol import Protocol


def reward_rows(probe: Protocol, spec, tables, lm, cache) -> pd.DataFrame:
    """Rows of `probe.build_reward(spec, tables)` (item, variant, candidate, question,
    response, ...) with each text's `reward`, formatted by the spec's `reward_format`
    (the text is the row's `prompt`)."""
    if probe.build_reward is None:
        return pd.DataFrame()
    rows = probe.build_reward(spec, tables)
    texts = [spec["reward_format"].format(question=q, response=r) for q, r in zip(rows["question"], rows["response"])]
    rewards = reward_scores(lm.model, lm.tokenizer, texts, cache=cache, revision=lm.revision)
    # the question is the item's text; analyses name their own `question` column
    return rows.drop(columns=["question"]).assign(prompt=texts, reward=rewards)
