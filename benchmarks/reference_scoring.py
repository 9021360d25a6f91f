"""Reference scorers the packed scorer is checked and benchmarked against: every
prompt+continuation as its own sequence (an evaluation harness's way), and one forward
per option. Not used by the workflow."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from alignshift.scoring import ContinuationScores, ScoreRequest, _collect, _pad_id, split_prompt


def _forward_logprobs(model, sequences: list[list[int]], pad_id: int, device) -> list[torch.Tensor]:
    """Next-token log-probs of right-padded sequences (row i -> tensor [len_i - 1])."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attn = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s)
        attn[i, : len(s)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(device)).squeeze(-1)
    return [lp[i, : len(s) - 1].double().cpu() for i, s in enumerate(sequences)]


def _full_items(tokenizer, requests):
    items = []
    for r, req in enumerate(requests):
        _, pairs = split_prompt(tokenizer, req.prompt, req.continuations)
        for k, (prefix, cont) in enumerate(pairs):
            items.append((r, k, len(prefix), prefix + cont))
    return items


@torch.inference_mode()
def score_full_sequences(
    model, tokenizer, requests: Sequence[ScoreRequest], *, batch_size: int = 32, progress: bool = False
) -> list[ContinuationScores]:
    """Reference: every prompt+continuation as its own sequence, batched after
    sorting by length (an evaluation harness's way). batch_size=1 is brute force."""
    device = next(model.parameters()).device
    items = sorted(_full_items(tokenizer, requests), key=lambda it: len(it[3]), reverse=True)
    owners, values = [], []
    for start in tqdm(range(0, len(items), batch_size), disable=not progress, desc="full sequences"):
        chunk = items[start : start + batch_size]
        for (r, k, p, seq), lp in zip(chunk, _forward_logprobs(model, [it[3] for it in chunk], _pad_id(tokenizer), device)):
            cont_lp = lp[p - 1 :]
            owners.extend([(r, k)] * len(cont_lp))
            values.append(cont_lp.numpy())
    return _collect(requests, owners, np.concatenate(values) if values else np.zeros(0))


def score_brute_force(model, tokenizer, requests: Sequence[ScoreRequest], *, progress: bool = False):
    """Reference: one full forward per (prompt, continuation), batch 1."""
    return score_full_sequences(model, tokenizer, requests, batch_size=1, progress=progress)
