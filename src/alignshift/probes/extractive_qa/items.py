"""extractive_qa: TyDiQA GoldP 1-shot, greedy generation scored by SQuAD EM and F1."""

from __future__ import annotations

import collections
import random
import re
import string
import zlib

import numpy as np
import pandas as pd

from ..protocol import GENERATION

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (GENERATION,)


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


DEMO_SAMPLINGS = ("hashed", "released")
ANSWER_CUTS = ("first_line", "blank_line")


def cut_answer(text: str, how: str) -> str:
    """The answer in a generation: "first_line" its first non-empty line; "blank_line"
    everything before the first blank line, stripped (the released postprocessing:
    `prediction.split("\n\n")[0].strip()`)."""
    if how == "blank_line":
        return text.split("\n\n")[0].strip()
    if how == "first_line":
        return text.strip().splitlines()[0].strip() if text.strip() else ""
    raise ValueError(f"extractive_qa.answer_cut: {how!r} is not one of {ANSWER_CUTS}")


def prompts(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    """One prompt per dev question. `demo_sampling` "hashed": the demonstration drawn per
    question by `demonstration`; "released": as the released script, Python's
    `random.seed(demo_seed)` then one `random.sample(train examples of the question's
    language, 1)` per dev question in the dev table's order (all of it, before
    `max_per_language` keeps the first N), pools in the train table's order."""
    dev, train = tables["tydiqa_dev"].reset_index(drop=True), tables["tydiqa_train"]
    pools = {lang: g.reset_index(drop=True) for lang, g in train.groupby("language", sort=False)}
    sampling = spec.get("demo_sampling", "hashed")
    if sampling not in DEMO_SAMPLINGS:
        raise ValueError(f"extractive_qa.demo_sampling: {sampling!r} is not one of {DEMO_SAMPLINGS}")
    for lang in dev["language"].unique():
        if lang not in pools:
            raise ValueError(f"extractive_qa: no train example in {lang} for the 1-shot demonstration")
    if sampling == "released":
        rng = random.Random(spec["demo_seed"])
        demos = [pools[lang].iloc[rng.sample(range(len(pools[lang])), 1)[0]] for lang in dev["language"]]
    else:
        demos = [demonstration(q_id, pools[lang], spec["demo_seed"]) for q_id, lang in zip(dev["id"], dev["language"])]
    keep = dev.index
    if spec["max_per_language"]:
        keep = dev.groupby("language", sort=False).head(spec["max_per_language"]).index
    rows = []
    for i in keep:
        q, demo = dev.loc[i], demos[i]
        text = spec["prompt"].format(demo_context=demo["context"], demo_question=demo["question"],
                                     demo_answer=list(demo["answers"])[0], context=q["context"],
                                     question=q["question"])
        rows.append({"item": q["id"], "language": q["language"], "question": q["question"], "prompt": fmt(text),
                     "gold": list(q["answers"]), "demo_id": demo["id"]})
    return pd.DataFrame(rows)


def generate(spec: dict, tables: dict[str, pd.DataFrame], lm, fmt, cache) -> pd.DataFrame:
    from ...generation import generate as generate_answers

    items = prompts(spec, tables, fmt)
    answers = generate_answers(lm.model, lm.tokenizer, items["prompt"].tolist(), max_new_tokens=spec["max_new_tokens"],
                       cache=cache, revision=lm.revision)
    # the model may go on with a new "Context:": the answer is cut (spec `answer_cut`)
    answers = [cut_answer(a, spec.get("answer_cut", "first_line")) for a in answers]
    return items.assign(
        variant="", candidate="", answer=answers,
        em=[exact_match(a, g) for a, g in zip(answers, items["gold"])],
        f1=[f1(a, g) for a, g in zip(answers, items["gold"])])
