"""Log-likelihood scoring of continuations: the hot path of every probe.

A probe asks "how likely is continuation c after prompt p" for many c per p. The
scorer puts one prompt and all its continuations into one packed row: each
continuation attends to the prompt and causally to itself (a prefix-sharing
attention mask), its position ids restart right after the prompt, so the prompt is
computed once and its keys/values are reused by every continuation without copying a
KV cache. Several such segments are packed per row, rows are batched, and the
vocabulary projection runs only where a continuation token is predicted.

Tokenization (`split_joint`): a continuation's tokens are the ones it gets in the joint
tokenization of prompt + continuation, split by the token count of the prompt encoded
alone - what the released code of Ryan, Held, Yang 2024 scores
(`labels[:, :len(encode(prompt))] = -100` on `encode(prompt + answer)`) and how
lm-evaluation-harness splits (`whole[len(context_enc):]`). So on a SentencePiece
tokenizer "A)" after "(" is scored as the pieces it has there, never as a word-start
"▁A". The tokens it is conditioned on are the joint tokenization's first tokens too (as
in the released code; lm-evaluation-harness conditions on the prompt encoded alone):
they equal the prompt's own tokens except where the last prompt token merges with the
continuation's first characters (a prompt ending in a space: "is: " + "(A)" ->
"is", ":", "▁(" | "A", ")"). Continuations of a prompt that share that prefix share one
packed segment, so the prompt is still computed once in the usual case. lm-evaluation-
harness moves a prompt's trailing spaces onto the continuation first; the released code
does not, and neither does this scorer. A prompt given as token ids (`Prompt.token_ids`)
is used as given, and so are token-id continuations.

Speed: tokenizing all of prompt + continuation for each of 181 countries would cost more
than the forward pass. With a fast tokenizer only the prompt's last few tokens (from a
place where their text alone tokenizes to them, at least TAIL_TOKENS back) are
re-tokenized with each continuation, in one batch per prompt and cached across
prompts that end alike; the prompt's tokens before them are kept. Once per prompt
(with its first continuation) that is checked against tokenizing the whole text, and
the prompt falls back to whole texts where it differs. It relies on a continuation
never changing tokens several tokens before it, true of byte-level BPE and of
SentencePiece models whose pieces do not cross word starts (tests/test_scoring.py checks
it against whole-text tokenization on prompts cut anywhere in real text).

The reference methods the tests and benchmarks compare against (one forward per
prompt+continuation; whole sequences batched, length-sorted) live in
`benchmarks/reference_scoring.py`; they score the same joint tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

# torch is imported by the functions that compute: the workflow's Snakefile and most of its
# jobs import this module (through alignshift.probes) for Prompt and the tokenization rules,
# and start seconds faster without it (benchmarks/job_startup.py).


@dataclass(frozen=True)
class Prompt:
    """A prompt as the scorer takes it: text, tokenized as the module docstring says (the
    tokenizer's BOS once, each continuation split from the joint tokenization), or token
    ids used exactly as given (country_pairs' paper protocol builds them), its `text`
    then those ids decoded with their special tokens, as the prompts table records it."""

    text: str
    token_ids: tuple[int, ...] | None = None

    @classmethod
    def from_token_ids(cls, tokenizer, ids) -> Prompt:
        ids = [int(i) for i in ids]
        return cls(tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False), tuple(ids))

    @property
    def given_as(self) -> str:
        return "text" if self.token_ids is None else "token_ids"

    @property
    def key(self) -> str | tuple[int, ...]:
        """What its `prompt_hash` and its score cache keys hash: its token ids where given,
        else its text (what they hashed before prompts had a type, so caches stay valid)."""
        return self.text if self.token_ids is None else self.token_ids

    def encode(self, tokenizer) -> list[int]:
        """The ids the model receives: the given ids, or the text with BOS once."""
        return list(self.token_ids) if self.token_ids is not None else encode_prompt(tokenizer, self.text)


@dataclass(frozen=True)
class ScoreRequest:
    """Score every continuation (text, or token ids as given) after one prompt."""

    prompt: Prompt
    continuations: tuple[str | tuple[int, ...], ...]


@dataclass(frozen=True)
class ContinuationScores:
    """Per-continuation results of one request (arrays aligned with its continuations)."""

    logprob_sum: np.ndarray
    n_tokens: np.ndarray

    @property
    def logprob_mean(self) -> np.ndarray:
        return self.logprob_sum / np.maximum(self.n_tokens, 1)


# how continuation tokens are chosen; part of every score cache key, so scores made
# with another tokenization are never reused
TOKENIZATION = "joint-split-by-prompt-token-count"


def _bos_to_add(tokenizer) -> int | None:
    """The BOS id the tokenizer's own convention puts in front of text, or None."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return None
    return bos if tokenizer("", add_special_tokens=True).input_ids[:1] == [bos] else None


def _with_bos(ids: list[int], bos: int | None) -> list[int]:
    return [bos] + ids if bos is not None and ids[:1] != [bos] else ids


def encode_prompt(tokenizer, text: str) -> list[int]:
    """Token ids of a prompt's text, with the tokenizer's BOS exactly once.

    Chat-templated text usually already starts with the BOS token as text; plain text
    gets it from the tokenizer's own convention (some tokenizers add none). (The
    released code of Ryan, Held, Yang 2024 adds BOS on top of a template's "<s>", so
    some of its runs have two; this project never does.)
    """
    return _with_bos(tokenizer(text, add_special_tokens=False).input_ids, _bos_to_add(tokenizer))


# at least this many of a prompt's last tokens are re-tokenized with each continuation,
# at most TAIL_SEARCH more (module docstring, "Speed")
TAIL_TOKENS = 3
TAIL_SEARCH = 16


def _prompt_tail(backend, prompt: str, ids: list[int], cont: str) -> tuple[int, int]:
    """How many of the prompt's tokens `ids` keep their place whatever follows (k): its
    last tokens from k on are re-tokenized with each continuation. k is the latest
    index at least TAIL_TOKENS from the end whose text, tokenized alone, gives exactly
    those tokens (on SentencePiece tokenizers: a word start), and for which the
    prompt's first k tokens followed by that text's joint tokens with `cont` are the
    whole joint tokenization of prompt + `cont`; 0 (tokenize whole texts) if none.
    Returns (k, the character where token k starts)."""
    if len(ids) <= TAIL_TOKENS:
        return 0, 0
    offsets = backend.encode(prompt, add_special_tokens=False).offsets
    for k in range(len(ids) - TAIL_TOKENS, max(0, len(ids) - TAIL_TOKENS - TAIL_SEARCH), -1):
        start = offsets[k][0]
        if start <= offsets[k - 1][0] or backend.encode(prompt[start:], add_special_tokens=False).ids != ids[k:]:
            continue
        whole = backend.encode(prompt + cont, add_special_tokens=False).ids
        tail = backend.encode(prompt[start:] + cont, add_special_tokens=False).ids
        return (k, start) if whole == ids[:k] + tail else (0, 0)
    return 0, 0


def split_prompt(tokenizer, prompt: Prompt, continuations: Sequence[str | tuple[int, ...]],
                 bos: int | None | str = "auto", tails: dict | None = None
                 ) -> tuple[list[int], list[tuple[list[int], list[int]]]]:
    """`split_joint` of a Prompt: a prompt given as token ids is every continuation's
    prefix as it is (nothing joint to split, no BOS added)."""
    if prompt.token_ids is None:
        return split_joint(tokenizer, prompt.text, continuations, bos=bos, tails=tails)
    prompt_ids = list(prompt.token_ids)
    return prompt_ids, [(prompt_ids, encode_continuation(tokenizer, c)) for c in continuations]


def split_joint(tokenizer, prompt: str, continuations: Sequence[str | tuple[int, ...]],
                bos: int | None | str = "auto", tails: dict | None = None
                ) -> tuple[list[int], list[tuple[list[int], list[int]]]]:
    """The prompt's own tokens and, per continuation, (prefix, continuation tokens):
    the joint tokenization of prompt + continuation split at the prompt-alone token
    count (module docstring). Token-id continuations are used as given (prefix = the
    prompt's ids). `tails` caches the tail tokenizations across calls (tail text ->
    continuation -> token ids)."""
    if bos == "auto":
        bos = _bos_to_add(tokenizer)
    raw = tokenizer(prompt, add_special_tokens=False).input_ids
    prompt_ids = _with_bos(raw, bos)
    p = len(prompt_ids)
    joint = [k for k, c in enumerate(continuations) if isinstance(c, str)]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    wholes: list[list[int]] = []
    if joint and backend is not None:
        # a fast tokenizer: only the prompt's last tokens are tokenized with each
        # continuation, the rest is the prompt's own (checked once per prompt)
        kept, start = _prompt_tail(backend, prompt, raw, continuations[joint[0]])
        tail = prompt[start:]
        tails = {} if tails is None else tails
        done = tails.setdefault(tail, {})
        todo = sorted({c for c in continuations if isinstance(c, str) and c not in done})
        if todo:
            for c, enc in zip(todo, backend.encode_batch([tail + c for c in todo], add_special_tokens=False)):
                done[c] = enc.ids
        if kept:
            # split inside the tail: the prompt's tokens before it are the prompt's own
            # (and so is the BOS decision), so only the tail's tokens are compared
            n = len(raw) - kept
            own = raw[kept:]
            out: list[tuple[list[int], list[int]]] = [None] * len(continuations)  # type: ignore[list-item]
            for k in joint:
                ids = done[continuations[k]]
                if len(ids) <= n:
                    raise ValueError(f"continuation {continuations[k]!r} has no tokens of its own after prompt "
                                     f"{prompt[-40:]!r}: the joint tokenization is not longer than the prompt's")
                out[k] = (prompt_ids if ids[:n] == own else prompt_ids[:p - n] + ids[:n], ids[n:])
            for k, c in enumerate(continuations):
                if out[k] is None:
                    out[k] = (prompt_ids, encode_continuation(tokenizer, c))
            return prompt_ids, out
        wholes = [done[continuations[k]] for k in joint]
    elif joint:
        wholes = tokenizer([prompt + continuations[k] for k in joint], add_special_tokens=False).input_ids
    out: list[tuple[list[int], list[int]]] = [None] * len(continuations)  # type: ignore[list-item]
    for k, whole in zip(joint, wholes):
        whole = _with_bos(whole, bos)
        if len(whole) <= p:
            raise ValueError(f"continuation {continuations[k]!r} has no tokens of its own after prompt "
                             f"{prompt[-40:]!r}: the joint tokenization is not longer than the prompt's")
        prefix = whole[:p]
        out[k] = (prompt_ids if prefix == prompt_ids else prefix, whole[p:])
    for k, c in enumerate(continuations):
        if out[k] is None:
            out[k] = (prompt_ids, encode_continuation(tokenizer, c))
    return prompt_ids, out


def encode_continuation(tokenizer, text: str | tuple[int, ...]) -> list[int]:
    if not isinstance(text, str):
        return list(text)
    ids = tokenizer(text, add_special_tokens=False).input_ids
    if not ids:
        raise ValueError(f"continuation {text!r} encodes to no tokens")
    return ids


@dataclass
class Segment:
    request: int
    prompt: list[int]
    continuations: list[tuple[int, list[int]]]  # (index in request, token ids)
    length: int = 0  # tokens in the segment, kept up to date by add()

    def __post_init__(self):
        self.length = len(self.prompt) + sum(len(c) for _, c in self.continuations)

    def add(self, k: int, cont: list[int]) -> None:
        self.continuations.append((k, cont))
        self.length += len(cont)


def _segments(tokenizer, requests: Sequence[ScoreRequest], max_row_tokens: int) -> list[Segment]:
    """Tokenize each prompt with its continuations (joint tokenization, split at the
    prompt's token count); continuations with the same prefix share a segment, and one
    that does not fit a row goes to another segment with the same prefix."""
    segments = []
    bos = _bos_to_add(tokenizer)
    tails: dict = {}
    for r, req in enumerate(requests):
        if not req.continuations:
            continue
        prompt_ids, pairs = split_prompt(tokenizer, req.prompt, req.continuations, bos=bos, tails=tails)
        groups: dict[tuple[int, ...] | None, list[tuple[int, list[int]]]] = {}
        prefixes: dict[tuple[int, ...] | None, list[int]] = {}
        for k, (prefix, cont) in enumerate(pairs):
            key = None if prefix is prompt_ids else tuple(prefix)
            groups.setdefault(key, []).append((k, cont))
            prefixes.setdefault(key, prefix)
        for key, conts in groups.items():
            current = Segment(r, prefixes[key], [])
            for k, cont in conts:
                if current.continuations and current.length + len(cont) > max_row_tokens:
                    segments.append(current)
                    current = Segment(r, prefixes[key], [])
                current.add(k, cont)
            segments.append(current)
    return segments


def _pack_rows(segments: list[Segment], max_row_tokens: int) -> list[list[Segment]]:
    """First-fit decreasing: few rows, similar lengths."""
    rows: list[list[Segment]] = []
    room: list[int] = []
    for seg in sorted(segments, key=lambda s: s.length, reverse=True):
        for i, free in enumerate(room):
            if seg.length <= free:
                rows[i].append(seg)
                room[i] -= seg.length
                break
        else:
            rows.append([seg])
            room.append(max(max_row_tokens, seg.length) - seg.length)
    return rows


def build_batch(rows: list[list[Segment]], pad_id: int, dtype: torch.dtype, device=None):
    """Input ids, position ids, additive 4D mask and the (row, source, target) index of
    every continuation token, for a batch of packed rows. The mask (rows x length x
    length) is built on `device` from the per-token segment and branch ids, so only those
    cross from the host, not the mask."""
    import torch

    length = max(sum(s.length for s in row) for row in rows)
    # filled as Python lists, one tensor each at the end: a small tensor per
    # continuation (181 per country_rank question) cost more host time than the rest
    ids_all, pos_all, block_all, branch_all = [], [], [], []
    rows_idx, src_idx, tgt_tok, owners = [], [], [], []
    for b, row in enumerate(rows):
        ids, pos, blk, brn = [], [], [], []
        for s_i, seg in enumerate(row):
            p = len(seg.prompt)
            ids += seg.prompt
            pos += range(p)
            blk += [s_i] * p
            brn += [-1] * p
            prompt_last = len(ids) - 1
            for j, (k, cont) in enumerate(seg.continuations):
                n, t = len(cont), len(ids)
                ids += cont
                pos += range(p, p + n)
                blk += [s_i] * n
                brn += [j] * n
                # token i of the continuation is predicted from the prompt's last
                # token (i = 0) or from the continuation's previous token
                rows_idx += [b] * n
                src_idx.append(prompt_last)
                src_idx += range(t, t + n - 1)
                tgt_tok += cont
                owners += [(seg.request, k)] * n
        # padding attends only to itself (unique negative segment ids) so no softmax row is empty
        pad = range(len(ids), length)
        ids_all.append(ids + [pad_id] * len(pad))
        pos_all.append(pos + [0] * len(pad))
        block_all.append(blk + [-1 - t for t in pad])
        branch_all.append(brn + [-2] * len(pad))
    input_ids = torch.tensor(ids_all, dtype=torch.long)
    position_ids = torch.tensor(pos_all, dtype=torch.long)
    block = torch.tensor(block_all, dtype=torch.long)  # segment index in row
    branch = torch.tensor(branch_all, dtype=torch.long)  # -1 prompt, k continuation, -2 padding
    block, branch = block.to(device), branch.to(device)
    q_block = block[:, :, None]
    k_block = block[:, None, :]
    q_branch = branch[:, :, None]
    k_branch = branch[:, None, :]
    causal = torch.ones(length, length, dtype=torch.bool, device=block.device).tril()
    allowed = (q_block == k_block) & causal & ((k_branch == -1) | (k_branch == q_branch))
    mask = torch.zeros(allowed.shape, dtype=dtype, device=block.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return (
        input_ids,
        position_ids,
        mask[:, None],
        torch.tensor(rows_idx),
        torch.tensor(src_idx),
        torch.tensor(tgt_tok),
        owners,
    )


def _decoder_and_head(model):
    """The transformer body and the output projection, so logits are computed only
    at the positions that predict a continuation token."""
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    softcap = getattr(model.config, "final_logit_softcapping", None)
    return decoder, head, softcap


def _token_logprobs(head, softcap, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    import torch

    logits = head(hidden).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.log_softmax(logits, dim=-1).gather(-1, targets[:, None]).squeeze(-1)


def _collect(requests, owners, token_logprobs) -> list[ContinuationScores]:
    sums = [np.zeros(len(r.continuations)) for r in requests]
    counts = [np.zeros(len(r.continuations), dtype=np.int64) for r in requests]
    for (r, k), lp in zip(owners, token_logprobs):
        sums[r][k] += lp
        counts[r][k] += 1
    return [ContinuationScores(s, c) for s, c in zip(sums, counts)]


def _pad_id(tokenizer) -> int:
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if tid is not None:
            return tid
    return 0


def score(
    model,
    tokenizer,
    requests: Sequence[ScoreRequest],
    *,
    max_row_tokens: int = 1024,
    max_batch_tokens: int | None = None,
    progress: bool | str = False,
) -> list[ContinuationScores]:
    """Score every continuation of every request with prefix-shared packed rows.

    `max_row_tokens` bounds one packed row (the attention mask is row x row);
    `max_batch_tokens` bounds a forward pass (default: picked from free memory on
    CUDA, 4 rows on CPU). On CUDA out-of-memory the batch is halved and retried.
    """
    import torch

    with torch.inference_mode():
        decoder, head, softcap = _decoder_and_head(model)
        device = next(model.parameters()).device
        dtype = next(p for p in model.parameters() if p.is_floating_point()).dtype
        rows = _pack_rows(_segments(tokenizer, requests, max_row_tokens), max_row_tokens)
        rows.sort(key=lambda row: sum(s.length for s in row), reverse=True)
        budget = max_batch_tokens or default_batch_tokens(model, max_row_tokens)
        owners_all: list[tuple[int, int]] = []
        logprobs_all: list[np.ndarray] = []
        bar = tqdm(total=sum(len(s.continuations) for row in rows for s in row), unit="cont",
                   desc=progress if isinstance(progress, str) else "scoring", disable=not progress,
                   mininterval=2.0)
        i = 0
        pending = None  # the previous forward's log-probs: read back after this batch is built,
        # so on CUDA (asynchronous) the host builds a batch while the device computes the last
        while i < len(rows):
            longest = sum(s.length for s in rows[i])
            n = max(1, min(len(rows) - i, budget // max(longest, 1)))
            chunk = rows[i : i + n]
            try:
                ids, pos, mask, b_idx, src, tgt, owners = build_batch(chunk, _pad_id(tokenizer), dtype, device)
                hidden = decoder(
                    input_ids=ids.to(device),
                    position_ids=pos.to(device),
                    attention_mask=mask.to(device),
                    use_cache=False,
                ).last_hidden_state
                # spread over GPUs (`device_map: auto`), the body can end on another device than the head
                at = head.weight.device
                lp = _token_logprobs(head, softcap, hidden.to(at)[b_idx.to(at), src.to(at)], tgt.to(at))
            except torch.OutOfMemoryError:
                if n == 1:
                    raise
                torch.cuda.empty_cache()
                budget = max(longest, budget // 2)
                continue
            owners_all.extend(owners)
            if pending is not None:
                logprobs_all.append(pending.double().cpu().numpy())
            pending = lp
            bar.update(sum(len(s.continuations) for row in chunk for s in row))
            i += n
        if pending is not None:
            logprobs_all.append(pending.double().cpu().numpy())
        bar.close()
        flat = np.concatenate(logprobs_all) if logprobs_all else np.zeros(0)
        return _collect(requests, owners_all, flat)


def default_batch_tokens(model, max_row_tokens: int) -> int:
    """Tokens per forward: from free memory on CUDA, a few rows on CPU."""
    import torch

    device = next(model.parameters()).device
    if device.type != "cuda":
        return 4 * max_row_tokens
    free, _ = torch.cuda.mem_get_info(device)
    cfg = model.config
    hidden = getattr(cfg, "hidden_size", 4096)
    layers = getattr(cfg, "num_hidden_layers", 32)
    heads = getattr(cfg, "num_attention_heads", 32)
    # activations of one token (~20 hidden-sized tensors live in a layer) plus the
    # row x row mask and attention scores shared by the row's tokens
    per_token = 2 * (20 * hidden + 2 * heads * max_row_tokens) + 4 * max_row_tokens
    usable = 0.6 * free - 2 * hidden * layers  # headroom for fragmentation
    return int(max(max_row_tokens, min(usable // per_token, 64 * max_row_tokens)))
