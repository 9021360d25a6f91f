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
`judge` then loads the judge model (`judging.model`, a registry entry) once for the
whole study and scores every model's answers (jobs.judge). Each score row records the
judge's name, hub id and revision.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..cache import JsonlCache
from ..generation import generate
from ..prompts import format_prompt
from ..models.load import load
from ..provenance import stable_hash
from ..scoring import ScoreRequest, score
from . import ProbeError


def score_strings(scale_max: int, chat: bool) -> list[str]:
    # a plain-format judge continues "...Answer:" so its number follows a space
    return [("" if chat else " ") + str(k) for k in range(scale_max + 1)]


def expected_score(logprobs) -> float:
    """Expected score sum_k k p_k with p = softmax over the score strings' log-probs."""
    lp = np.asarray(logprobs, dtype=float)
    p = np.exp(lp - np.logaddexp.reduce(lp))
    return float(p @ np.arange(len(lp)))


def answers(spec: dict, lm, fmt, cache) -> pd.DataFrame:
    """One row per (prompt, sample): the model's answer."""
    items = spec["prompts"]
    if not items:
        raise ProbeError("judge: no prompts")
    prompts = [fmt(item["text"]) for item in items]
    rows = []
    for sample in range(int(spec["samples"])):
        texts = generate(lm.model, lm.tokenizer, prompts, max_new_tokens=int(spec["max_new_tokens"]),
                         do_sample=bool(spec["do_sample"]), temperature=float(spec["temperature"]),
                         seed=int(spec["seed"]) + 1000 * sample, cache=cache, revision=lm.revision)
        rows += [{"item": item["id"], "variant": f"sample-{sample}", "question": item["text"], "answer": text}
                 for item, text in zip(items, texts)]
    return pd.DataFrame(rows)


def load_judge(judging: dict, manifest_path: str | Path, device: str | None = None):
    manifest = json.loads(Path(manifest_path).read_text())
    if manifest["name"] != judging.get("model"):
        raise ProbeError(f"judge: manifest {manifest_path} is of {manifest['name']!r}, not {judging.get('model')!r}")
    return manifest, load(manifest, device=device, lazy=True)


def judge_answers(judging: dict, answered: pd.DataFrame, judge, manifest: dict, cache) -> pd.DataFrame:
    """Score rows: one per (answer, score string), with the judge's log-probs. The
    judge is only loaded (lazily) if some answer's scores are not in `cache`."""
    chat = bool(judge.spec.chat_template and judge.tokenizer.chat_template)
    strings = score_strings(int(judging["scale_max"]), chat)
    prompts = [format_prompt(judge.tokenizer, judging["prompt"].format(answer=a), chat=chat,
                             system=judging.get("system_prompt")) for a in answered["answer"]]
    store = JsonlCache(cache)
    keys = [stable_hash({"judge": judge.revision, "prompt": p, "strings": strings}) for p in prompts]
    todo = sorted({k: p for k, p in zip(keys, prompts) if k not in store}.items())
    if todo:
        results = score(judge.model, judge.tokenizer, [ScoreRequest(p, tuple(strings)) for _, p in todo],
                        progress=f"judge {judge.spec.name} [{len(todo)} answers]")
        store.put((k, r.logprob_sum.tolist() + r.n_tokens.tolist()) for (k, _), r in zip(todo, results))
    rows = []
    for (_, ans), key, prompt in zip(answered.iterrows(), keys, prompts):
        stored = store.get(key)
        lps, counts = stored[: len(strings)], stored[len(strings):]
        value = expected_score(lps)
        for k, (text, lp, n) in enumerate(zip(strings, lps, counts)):
            rows.append({**ans.to_dict(), "candidate": k, "continuation": text, "logprob_sum": lp,
                         "n_tokens": int(n), "logprob_mean": lp / max(int(n), 1), "judge_score": value,
                         "judge_prompt_hash": stable_hash(prompt), "judge_model": judge.spec.name,
                         "judge_id": manifest["id"], "judge_revision": judge.revision})
    return pd.DataFrame(rows)


def evaluate(spec: dict, tables: dict[str, pd.DataFrame], lm, fmt, cache) -> pd.DataFrame:
    """The evaluation stage: the model's answers (judged later by the rule `judge`)."""
    return answers(spec, lm, fmt, cache)
