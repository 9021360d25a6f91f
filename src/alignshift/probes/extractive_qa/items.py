"""extractive_qa: TyDiQA GoldP 1-shot, greedy generation scored by SQuAD EM and F1."""

from __future__ import annotations

import collections
import re
import string
import zlib

import numpy as np
import pandas as pd


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, no punctuation, no English articles, single spaces."""
    text = "".join(ch for ch in str(text).lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds) -> float:
    return float(max(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def f1(prediction: str, golds) -> float:
    """Best token-overlap F1 over the gold answers (SQuAD v1.1)."""
    def one(gold):
        pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
        common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
        overlap = sum(common.values())
        if not pred_tokens or not gold_tokens:
            return float(pred_tokens == gold_tokens)
        if overlap == 0:
            return 0.0
        precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
        return 2 * precision * recall / (precision + recall)

    return max(one(g) for g in golds)


def demonstration(question_id: str, pool: pd.DataFrame, seed: int) -> pd.Series:
    """One train example of the same language, drawn by a generator seeded with the study
    seed and the question's id (stable across models, runs and row order)."""
    rng = np.random.default_rng([seed, zlib.crc32(question_id.encode())])
    return pool.iloc[int(rng.integers(len(pool)))]


def prompts(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    dev, train = tables["tydiqa_dev"], tables["tydiqa_train"]
    if spec["max_per_language"]:
        dev = dev.groupby("language", sort=False).head(spec["max_per_language"])
    pools = {lang: g.reset_index(drop=True) for lang, g in train.groupby("language")}
    rows = []
    for q in dev.itertuples():
        if q.language not in pools:
            raise ValueError(f"extractive_qa: no train example in {q.language} for the 1-shot demonstration")
        demo = demonstration(q.id, pools[q.language], spec["demo_seed"])
        text = spec["prompt"].format(demo_context=demo.context, demo_question=demo.question,
                                     demo_answer=list(demo.answers)[0], context=q.context, question=q.question)
        rows.append({"item": q.id, "language": q.language, "question": q.question, "prompt": fmt(text),
                     "gold": list(q.answers), "demo_id": demo.id})
    return pd.DataFrame(rows)


def evaluate(spec: dict, tables: dict[str, pd.DataFrame], lm, fmt, cache) -> pd.DataFrame:
    from ...generation import generate

    items = prompts(spec, tables, fmt)
    answers = generate(lm.model, lm.tokenizer, items["prompt"].tolist(), max_new_tokens=spec["max_new_tokens"],
                       cache=cache, revision=lm.revision)
    # the answer is the first line of the continuation (the model may go on with a new "Context:")
    answers = [a.strip().splitlines()[0].strip() if a.strip() else "" for a in answers]
    return items.drop(columns=["prompt"]).assign(
        variant="", candidate="", answer=answers,
        em=[exact_match(a, g) for a, g in zip(answers, items["gold"])],
        f1=[f1(a, g) for a, g in zip(answers, items["gold"])])
