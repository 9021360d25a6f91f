"""Reward-model scoring: one scalar per full (prompt, response) text.

The reward is the value head's output at the text's last token (the way Starling-RM
and InstructGPT-style reward models are read), computed from the backbone's hidden
states directly so that the pooling never depends on which id the tokenizer pads with
(Starling's format ends in `</s>`, which is also many tokenizers' pad token).
Results are cached per text, keyed by the model revision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .cache import JsonlCache
from .provenance import stable_hash


def encode_text(tokenizer, text: str) -> list[int]:
    """A reward model's input ids: the text's own tokens (its format string carries its
    own BOS/EOS text, so no special token is added twice)."""
    return tokenizer(text, add_special_tokens=False).input_ids


def reward_scores(model, tokenizer, texts: Sequence[str], *, batch_size: int = 8, cache: str | Path | None = None,
                  revision: str = "") -> list[float]:
    import torch  # here, not at the top: probes import this module without computing (alignshift.scoring)

    keys = [stable_hash({"reward_model": revision, "text": t}) for t in texts]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def rewards(chunk, *_):
        encoded = [encode_text(tokenizer, t) for _, t in chunk]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(encoded):  # right padding: the last real token is at len - 1
            ids[i, : len(e)] = torch.tensor(e)
            mask[i, : len(e)] = 1
        hidden = model.base_model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        last = torch.tensor([len(e) - 1 for e in encoded], device=device)
        values = model.score(hidden[torch.arange(len(encoded), device=device), last]).squeeze(-1).float()
        return [float(v) for v in values.cpu()]

    with torch.inference_mode():
        return JsonlCache(cache).fill(zip(keys, texts), rewards, chunk=batch_size, sort_key=lambda kv: len(kv[1]))
