"""judge: open prompts answered by the model, each answer scored 0..20 by a judge model.

The score is not parsed from the judge's text: the judge reads the answer under a
rating prompt, the scorer gives the log-probability of each score string "0".."20"
as the judge's reply (all 21 in one batched, prefix-shared pass), and the score is the
expected value under those probabilities renormalised over the 21 strings:
sum_k k * p_k. With a tokenizer that writes numbers up to 20 as one token (Llama 3,
GPT-4's) p_k is exactly the judge's probability of the token k; with a digit-split
tokenizer, "1" also stands for the start of "10".."19", so the low end is a prefix
probability (see config/README.md).

Two stages: the evaluation job generates (and caches) each model's answers; the rule
`judging` then loads the judge model (`judging.model`, a registry entry) once for the
whole study and scores every model's answers (judging.run). Each score row records the
judge's name, hub id and revision.
"""

from __future__ import annotations

import pandas as pd

from ...generation import generate as generate_answers
from .. import ProbeError
from ..protocol import GENERATION

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (GENERATION,)


def answers(spec: dict, lm, fmt, cache) -> pd.DataFrame:
    """One row per (prompt, sample): the model's answer, and the `prompt` it answered."""
    items = spec["prompts"]
    if not items:
        raise ProbeError("judge: no prompts")
    prompts = [fmt(item["text"]) for item in items]
    rows = []
    for sample in range(int(spec["samples"])):
        texts = generate_answers(lm.model, lm.tokenizer, prompts, max_new_tokens=int(spec["max_new_tokens"]),
                                 do_sample=bool(spec["do_sample"]), temperature=float(spec["temperature"]),
                                 top_k=spec.get("top_k"),
                                 seed=int(spec["seed"]) + 1000 * sample, cache=cache, revision=lm.revision)
        rows += [{"item": item["id"], "variant": f"sample-{sample}", "question": item["text"], "answer": text,
                  "prompt": prompt} for item, text, prompt in zip(items, texts, prompts)]
    return pd.DataFrame(rows)


def generate(spec: dict, tables: dict[str, pd.DataFrame], lm, fmt, cache) -> pd.DataFrame:
    """The evaluation stage: the model's answers (judged later by the rule `judge`)."""
    return answers(spec, lm, fmt, cache)


def check(spec: dict, models) -> None:
    """The judging stage's settings, at planning time: a known backend; an API judge's
    base URL and model (a missing one stops the plan, not the job); a local judge that
    is one of the study's models."""
    judging = spec["judging"]
    backend = judging.get("backend", "local")
    if backend not in ("local", "openai"):
        raise ProbeError(f"probes.judge.judging.backend: {backend!r}; known: local, openai")
    if backend == "openai":
        from .judging import api_settings

        api_settings(judging)
    elif judging.get("model") not in models:
        raise ProbeError(f"probes.judge.judging.model: {judging.get('model')!r} is not a model of this study; "
                         f"known: {sorted(models)}")
