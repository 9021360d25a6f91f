"""The judge probe's later stage (rule `judging`): the judge model, loaded once for the
study, scores every model's answers. See items.py for the score's definition."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ...cache import JsonlCache
from ...models.load import load
from ...prompts import format_prompt
from ...provenance import stable_hash
from ...scoring import ScoreRequest, score
from .. import ProbeError


def score_strings(scale_max: int, chat: bool) -> list[str]:
    # a plain-format judge continues "...Answer:" so its number follows a space
    return [("" if chat else " ") + str(k) for k in range(scale_max + 1)]


def expected_score(logprobs) -> float:
    """Expected score sum_k k p_k with p = softmax over the score strings' log-probs."""
    lp = np.asarray(logprobs, dtype=float)
    p = np.exp(lp - np.logaddexp.reduce(lp))
    return float(p @ np.arange(len(lp)))


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
    keys = [stable_hash({"judge": judge.revision, "prompt": p, "strings": strings}) for p in prompts]

    def judge_chunk(chunk, done, total):
        results = score(judge.model, judge.tokenizer, [ScoreRequest(p, tuple(strings)) for _, p in chunk],
                        progress=f"judge {judge.spec.name} [{total} answers]")
        return [r.logprob_sum.tolist() + r.n_tokens.tolist() for r in results]

    stored = JsonlCache(cache).fill(zip(keys, prompts), judge_chunk, sort_key=lambda kv: kv)
    rows = []
    for (_, ans), values, prompt in zip(answered.iterrows(), stored, prompts):
        lps, counts = values[: len(strings)], values[len(strings):]
        value = expected_score(lps)
        for k, (text, lp, n) in enumerate(zip(strings, lps, counts)):
            rows.append({**ans.to_dict(), "candidate": k, "continuation": text, "logprob_sum": lp,
                         "n_tokens": int(n), "logprob_mean": lp / max(int(n), 1), "judge_score": value,
                         "judge_prompt_hash": stable_hash(prompt), "judge_model": judge.spec.name,
                         "judge_id": manifest["id"], "judge_revision": judge.revision})
    return pd.DataFrame(rows)
