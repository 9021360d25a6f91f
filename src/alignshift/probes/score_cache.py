"""The log-likelihood kind's scores, cached per prompt: a killed job rescoring redoes
only what is missing, and a model is never loaded when everything is cached."""

from __future__ import annotations

import pandas as pd

from ..cache import JsonlCache
from ..provenance import stable_hash
from ..scoring import TOKENIZATION, ScoreRequest, score
from .prompt_format import row_prompt


def score_rows(name, spec, rows, lm, cache, chunk_prompts, progress, score_kwargs) -> pd.DataFrame:
    """Each row's log-likelihood of its continuation after its prompt (the shared scorer,
    every continuation of a prompt in one pass), cached per (model revision, probe spec,
    prompt, continuations) and written every `chunk_prompts` prompts."""
    prompts = rows["prompt"].map(row_prompt)
    grouped = rows.assign(prompt=prompts).groupby("prompt", sort=False)["continuation"].apply(tuple)
    spec_hash = stable_hash(spec)
    keys = [stable_hash({"model": lm.revision, "probe": name, "spec": spec_hash, "prompt": p.key, "continuations": c,
                         "tokenization": TOKENIZATION}) for p, c in grouped.items()]
    store = JsonlCache(cache)

    def score_chunk(chunk, done, total):
        label = f"{name} {lm.spec.name} [{done}/{total} prompts]" if progress else False
        results = score(lm.model, lm.tokenizer, [ScoreRequest(p, c) for _, (p, c) in chunk], progress=label, **score_kwargs)
        return [{"logprob_sum": r.logprob_sum.tolist(), "n_tokens": r.n_tokens.tolist()} for r in results]

    results = dict(zip(grouped.index, store.fill(zip(keys, grouped.items()), score_chunk, chunk=chunk_prompts)))
    # map every row back to its prompt's result, by position among the prompt's rows
    position = prompts.groupby(prompts, sort=False).cumcount().to_numpy()
    per_row = [results[p] for p in prompts]
    out = rows.assign(
        logprob_sum=[r["logprob_sum"][k] for r, k in zip(per_row, position)],
        n_tokens=[int(r["n_tokens"][k]) for r, k in zip(per_row, position)],
    )
    out["logprob_mean"] = out["logprob_sum"] / out["n_tokens"].clip(lower=1)
    return out
