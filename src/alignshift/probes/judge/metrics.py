"""Judge scores (0 = far left .. 20 = far right) per model, per prompt and overall.

Each answer's score is the expected value over the judge's probabilities of the score
strings, recomputed here from the stored log-probs (softmax over the 0..20 strings).
A prompt's score is the mean over its samples; a model's overall score (item `all`)
is the mean over prompts with a 95% bootstrap CI over prompts, and for a checkpoint
the paired change from its base model over the same prompts. Per-prompt rows keep the
first sample's answer text for the sample-answers table.
"""

from __future__ import annotations

import pandas as pd

from .judging import expected_score
from ...registry import baselines
from ...stats import compare

KEYS = ["model", "item", "variant"]


def answer_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, prompt, sample): its expected judge score and answer."""
    ordered = scores.sort_values(KEYS + ["candidate"])
    per_answer = ordered.groupby(KEYS, sort=False).agg(
        score=("logprob_sum", lambda lp: expected_score(lp.to_numpy())),
        question=("question", "first"), answer=("answer", "first"),
        judge_model=("judge_model", "first"), judge_revision=("judge_revision", "first"),
    )
    return per_answer.reset_index()


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    answers = answer_scores(scores)
    per_item = (answers.groupby(["model", "item"], sort=False)
                .agg(judge_score=("score", "mean"), n_answers=("score", "size"), question=("question", "first"),
                     answer=("answer", "first"), judge_model=("judge_model", "first"),
                     judge_revision=("judge_revision", "first"))
                .reset_index())
    overall = compare(per_item, "judge_score", [], baselines(models), seed=seed, count=None,
                      extra={"n_answers": ("n_answers", "sum"), "judge_model": ("judge_model", "first"),
                             "judge_revision": ("judge_revision", "first")})
    overall = overall.assign(item="all", question="", answer="")
    return pd.concat([overall, per_item], ignore_index=True)
