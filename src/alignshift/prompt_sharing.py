"""DPO forward passes that compute each pair's prompt once.

trl's DPOTrainer runs prompt + chosen and prompt + rejected as two sequences, for the
policy and again for the reference model. On the default study's rows (60-token
prompts, 8-token answers) that is 137 tokens per pair where 77 hold everything there
is to compute. Here a pair is one packed row, its prompt followed by both answers,
each answer attending to the prompt and causally to itself, with position ids that
restart after the prompt: the scorer's prefix-sharing layout (`scoring.build_batch`),
so every token sees exactly the context it has in trl's layout and the log-
probabilities are trl's up to float rounding (tests/test_finetune.py). The vocabulary
projection runs only where an answer token is predicted (trl's fused head projects
every position of the batch off CUDA).

`PromptSharing` is mixed into the trainer; a recipe turns it off with
`prompt_sharing: false`. A batch it cannot share (rows whose prompts differ, an answer
cut to nothing by `max_length`), a model whose logits are scaled or soft-capped or
whose attention is flash-attention (which takes no 4D mask), and a separate reference
model go through trl's own forward.
"""

from __future__ import annotations

import contextlib
import types

import torch

from .scoring import build_batch, Segment

# trl's per-token output fields (trl.trainer.utils.FusedCausalLMOutput)
FIELDS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def _shareable(model) -> bool:
    """The attention takes an arbitrary 4D mask (not flash-attention) and the logits
    are the head's plain projection (no soft-capping or scaling to mirror)."""
    config = model.config.get_text_config()
    if config is not model.config:  # a vision-language wrapper: leave it to trl
        return False
    if (getattr(config, "_attn_implementation", None) or "sdpa") not in ("sdpa", "eager"):
        return False
    return not any(getattr(config, key, None) not in (None, 1.0) for key in
                   ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                    "logits_scaling"))


def pair_segments(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  labels: torch.Tensor) -> tuple[list[Segment], list[int]] | None:
    """One segment per pair (prompt; chosen, rejected) from trl's batch of rows
    [chosen x B; rejected x B], each a prompt then its answer (labels != -100), padded
    on the right; with each pair's prompt length. None where the batch is not laid out
    so."""
    rows, length = input_ids.shape
    if rows % 2:
        return None
    answer = labels != -100
    used = attention_mask.bool()
    n_used = used.sum(1)
    position = torch.arange(length, device=input_ids.device)
    if not answer.any(1).all() or not torch.equal(used, position < n_used[:, None]):
        return None
    prompt_len = answer.int().argmax(1)
    if not torch.equal(answer, (position >= prompt_len[:, None]) & used):
        return None
    pairs = rows // 2
    segments, prompts = [], []
    ids = input_ids.tolist()
    for i in range(pairs):
        p = int(prompt_len[i])
        if p == 0 or int(prompt_len[i + pairs]) != p or ids[i][:p] != ids[i + pairs][:p]:
            return None
        chosen, rejected = ids[i][p:int(n_used[i])], ids[i + pairs][p:int(n_used[i + pairs])]
        segments.append(Segment(i, ids[i][:p], [(0, chosen), (1, rejected)]))
        prompts.append(p)
    return segments, prompts


def shared_prompt_forward(model, input_ids, attention_mask, labels, outputs: tuple[str, ...]):
    """trl's fused-head output (`FusedCausalLMOutput`, per-token fields [rows, length - 1],
    zero where the next label is -100) computed with each pair's prompt once; None when
    the batch cannot be shared."""
    from trl.trainer.utils import FusedCausalLMOutput

    layout = pair_segments(input_ids, attention_mask, labels)
    if layout is None:
        return None
    segments, prompt_lens = layout
    head = model.get_output_embeddings()
    device, dtype = head.weight.device, head.weight.dtype
    ids, positions, mask, row, source, target, owners = build_batch([[s] for s in segments], 0, dtype)
    hidden = model.get_decoder()(input_ids=ids.to(device), position_ids=positions.to(device),
                                 attention_mask=mask.to(device), use_cache=False).last_hidden_state
    # split over GPUs (`device_map: auto`), the body can end on another device than the head
    hidden = hidden.to(device)
    logits = head(hidden[row.to(device), source.to(device)]).float()
    target = target.to(device)
    log_softmax = torch.log_softmax(logits, dim=-1)
    computed = {"log_probs": log_softmax.gather(-1, target[:, None]).squeeze(-1)}
    with torch.no_grad():
        probs = log_softmax.exp()
        computed["entropy"] = -(probs * log_softmax).sum(-1)
        computed["log_sum_sq_probs"] = torch.logsumexp(2 * log_softmax, dim=-1)
        computed["mean_logits"] = logits.mean(-1)
        computed["is_top1"] = logits.argmax(-1) == target
    # where each answer token goes in trl's layout: row i (chosen) or i + B (rejected),
    # column prompt + j - 1 (position t holds the log-prob of token t + 1)
    pairs, seen = len(segments), {}
    out_row, out_col = [], []
    for pair, answer in owners:
        j = seen[(pair, answer)] = seen.get((pair, answer), -1) + 1
        out_row.append(pair + answer * pairs)
        out_col.append(prompt_lens[pair] + j - 1)
    index = (torch.tensor(out_row, device=device), torch.tensor(out_col, device=device))
    shape = (input_ids.size(0), input_ids.size(1) - 1)
    fields = {}
    for name in FIELDS:
        if name == "log_probs" or name in outputs:
            value = computed[name]
            fields[name] = torch.zeros(shape, dtype=value.dtype, device=device).index_put(index, value)
    label_mask = torch.zeros(shape, dtype=torch.bool, device=device).index_put(
        index, torch.ones(len(out_row), dtype=torch.bool, device=device))
    log_probs = fields["log_probs"]
    return FusedCausalLMOutput(loss=-log_probs.sum() / label_mask.sum().clamp(min=1), label_mask=label_mask,
                               **{name: fields.get(name) for name in FIELDS})


@contextlib.contextmanager
def sharing_prompts(model, outputs: tuple[str, ...]):
    """While open, `model(..., labels=..., fused_lm_head=True)` (trl's policy and
    reference calls) computes each pair's prompt once where the batch allows it."""
    fused = model.forward

    def forward(self, *args, fused_lm_head=False, labels=None, input_ids=None, attention_mask=None, **kwargs):
        if fused_lm_head and not args and input_ids is not None and attention_mask is not None \
                and labels is not None and kwargs.get("inputs_embeds") is None \
                and not kwargs.get("output_router_logits"):
            result = shared_prompt_forward(self, input_ids, attention_mask, labels, outputs)
            if result is not None:
                return result
        return fused(*args, fused_lm_head=fused_lm_head, labels=labels, input_ids=input_ids,
                     attention_mask=attention_mask, **kwargs)

    model.forward = types.MethodType(forward, model)
    try:
        yield
    finally:
        model.forward = fused


def prompt_sharing(trainer_class):
    """`trainer_class` (trl's DPOTrainer) computing each pair's prompt once per forward
    pass: the policy's, the reference's, and the precomputed reference log-probs."""
    class PromptSharing(trainer_class):
        def _sharing(self, model):
            from peft import PeftModel

            inner = self.accelerator.unwrap_model(model)
            inner = inner.get_base_model() if isinstance(inner, PeftModel) else inner
            if self.ref_model is not None or not _shareable(inner):
                return contextlib.nullcontext()
            outputs = ("log_probs", "entropy", "mean_logits", "is_top1") + (
                ("log_sum_sq_probs",) if self.use_weighting else ())
            return sharing_prompts(inner, outputs)

        def _compute_loss(self, model, inputs, return_outputs):
            with self._sharing(model):
                return super()._compute_loss(model, inputs, return_outputs)

        def compute_ref_log_probs(self, model, inputs):
            with self._sharing(model):
                return super().compute_ref_log_probs(model, inputs)

    return PromptSharing
