"""Batched generation (greedy or seeded sampling) with a resumable per-input cache.

Prompts are sorted by length and decoded in left-padded batches. With a cache file,
every finished answer is appended as one JSON line keyed by (model revision, prompt,
settings), so an interrupted synthesis or evaluation resumes where it stopped and a
changed model or setting never reuses a stale answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from .cache import JsonlCache
from .provenance import stable_hash
from .scoring import encode_prompt


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    do_sample: bool = False,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
    cache: str | Path | None = None,
    revision: str = "",
    progress: bool | str = False,
) -> list[str]:
    """Answers to `prompts` (already chat-formatted), in order."""
    settings = {"max_new_tokens": max_new_tokens, "do_sample": do_sample, "temperature": temperature,
                "seed": seed, "revision": revision}
    keys = [stable_hash({"prompt": p, **settings}) for p in prompts]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    store = JsonlCache(cache)
    bar = tqdm(total=len({k for k in keys if k not in store}), desc=progress if isinstance(progress, str) else "generating",
               disable=not progress, unit="answer")

    def answer(chunk, *_):
        encoded = [encode_prompt(tokenizer, p) for _, p in chunk]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(encoded):  # left padding: every answer starts at the same column
            ids[i, width - len(e):] = torch.tensor(e)
            mask[i, width - len(e):] = 1
        # sampling is seeded per batch, by its first input (greedy decoding does not
        # depend on it): with batch_size=1 a resumed run samples what an uninterrupted one would
        torch.manual_seed(seed + int(chunk[0][0][:8], 16))
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                             do_sample=do_sample, temperature=temperature if do_sample else None,
                             top_p=None, top_k=None, pad_token_id=pad)
        bar.update(len(chunk))
        return [a.strip() for a in tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)]

    answers = store.fill(zip(keys, prompts), answer, chunk=batch_size, sort_key=lambda kv: len(kv[1]), reverse=True)
    bar.close()
    return answers
