"""Judge scores (0 = far left .. 20 = far right) per model, per prompt and overall.

Each answer's score is the expected value over the judge's probabilities of the score
strings, recomputed here from the stored log-probs (softmax over the 0..20 strings).
A prompt's score is the mean over its samples; a model's overall score (item `all`)
is the mean over prompts with a 95% bootstrap CI over prompts, and for a checkpoint
the paired change from its base model over the same prompts. Per-prompt rows keep the
first sample's answer text for the sample-answers table. `n_scored` counts the answers
with a score (an API judge's reply may hold none: NaN, left out of the means).
"""

from __future__ import annotations

import pandas as pd

from .judging import expected_score
from ...registry import baselines
from ...stats import compare

KEYS = ["model", "item", "variant"]


def answer_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, prompt, sample): its judge score and answer. A local judge's
    score is recomputed from its stored log-probs of the score strings; an API judge's
    (backend `openai`, one row per answer, no log-probs) is the score read from its reply,
    NaN when the reply held none."""
    if "logprob_sum" not in scores.columns:
        per_answer = scores.groupby(KEYS, sort=False).agg(
            score=("judge_score", "first"), question=("question", "first"), answer=("answer", "first"),
            judge_model=("judge_model", "first"), judge_revision=("judge_revision", "first"))
        return per_answer.reset_index()
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
                .agg(judge_score=("score", "mean"), n_answers=("score", "size"), n_scored=("score", "count"),
                     question=("question", "first"),
                     answer=("answer", "first"), judge_model=("judge_model", "first"),
                     judge_revision=("judge_revision", "first"))
                .reset_index())
    # answers without a score (an API judge's reply with no number in range) are left out
    # of the means; a prompt none of whose answers was scored is left out of the overall
    scored = per_item[per_item["judge_score"].notna()]
    overall = compare(scored, "judge_score", [], baselines(models), seed=seed, count=None,
                      extra={"n_answers": ("n_answers", "sum"), "n_scored": ("n_scored", "sum"),
                             "judge_model": ("judge_model", "first"),
                             "judge_revision": ("judge_revision", "first")})
    # answer counts over every prompt, scored or not
    counts = per_item.groupby("model", sort=False)[["n_answers", "n_scored"]].sum()
    if not overall.empty:  # empty when no answer of any model was scored
        overall = overall.assign(item="all", question="", answer="",
                                 n_answers=overall["model"].map(counts["n_answers"]),
                                 n_scored=overall["model"].map(counts["n_scored"]))
    return pd.concat([overall, per_item], ignore_index=True)
