"""dialect_intent: MD3 secret-word guessing by greedy generation, per English dialect."""

from __future__ import annotations

import pandas as pd

from ..protocol import GENERATION

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (GENERATION,)


def is_correct(answer: str, word: str, distractors) -> bool:
    """The secret word is generated and none of the distractors is (case-insensitive
    substring match, as in the paper)."""
    text = answer.lower()
    return word.lower() in text and not any(d.lower() in text for d in distractors if d)


def generate(spec: dict, tables: dict[str, pd.DataFrame], lm, fmt, cache) -> pd.DataFrame:
    from ...generation import generate as generate_answers

    games = tables["md3"]
    if spec["max_per_dialect"]:
        games = games.groupby("dialect", sort=False).head(spec["max_per_dialect"])
    prompts = [fmt(spec["prompt"].format(transcript=t)) for t in games["transcript"]]
    answers = generate_answers(lm.model, lm.tokenizer, prompts, max_new_tokens=spec["max_new_tokens"], cache=cache,
                       revision=lm.revision)
    return pd.DataFrame({
        "item": games["id"].to_numpy(), "variant": "", "candidate": "", "dialect": games["dialect"].to_numpy(),
        "correct_word": games["correct_word"].to_numpy(), "answer": answers, "prompt": prompts,
        "correct": [float(is_correct(a, w, list(d))) for a, w, d in
                    zip(answers, games["correct_word"], games["distractors"])],
    })
