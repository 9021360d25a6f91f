"""Reward models: a causal-LM backbone with a scalar value head on the last token."""

from __future__ import annotations

import logging
from pathlib import Path

from .load import quantization_config
from .spec import ModelLoadError, ModelSpec
from .weights import PICKLE_SUFFIXES

log = logging.getLogger(__name__)

# A reward model is a causal-LM backbone with a scalar value head on the last token. Two
# checkpoint layouts are read: transformers' own <Arch>ForSequenceClassification
# (`model.*` + `score.weight`), and Starling-RM-7B-alpha's (a GPTRewardModel state dict:
# the Llama-2-7b-chat backbone as `transformer.*` - and again as `model.model.*`, with
# its unused `model.lm_head.weight` - plus `v_head.weight`). Either way every tensor
# must land on a parameter and every parameter must be loaded: a missing or unexpected
# key is an error, never a silently random head.

# Starling's duplicate views of the same backbone; the LM head is not part of a reward model
_REWARD_DROP = ("model.lm_head.weight", "lm_head.weight")
_REWARD_RENAMES = (("transformer.", "model."), ("v_head.", "score."))


def _reward_state_dict(path: Path, allow_pickle: bool) -> dict:
    import torch
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    if files:
        state = {}
        for f in files:
            state.update(load_file(str(f)))
        return state
    pickles = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if not pickles:
        raise ModelLoadError(f"{path}: no reward-model weights (*.safetensors or, opted in, *.bin/*.pt)")
    if not allow_pickle:
        raise ModelLoadError(f"{path}: only pickle weights ({pickles[0].name}); set `allow_pickle: true` to opt in")
    state = {}
    for f in pickles:
        # weights_only: tensors and containers only, no arbitrary objects from the pickle
        state.update(torch.load(str(f), map_location="cpu", weights_only=True))
    return state


def reward_state_dict(state: dict) -> dict:
    """Map a reward checkpoint's keys onto <Arch>ForSequenceClassification's names."""
    if any(k.startswith("transformer.") or k.startswith("v_head.") for k in state):  # Starling layout
        out = {}
        for key, value in state.items():
            if key in _REWARD_DROP or key.startswith("model.model."):
                continue  # the same tensors as transformer.*, and the unused LM head
            for old, new in _REWARD_RENAMES:
                if key.startswith(old):
                    key = new + key[len(old):]
                    break
            out[key] = value
        return out
    return dict(state)


def load_reward_model(path: str, spec: ModelSpec, device: str, dtype):
    """A scalar-head reward model (num_labels=1) with every weight accounted for."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    path = Path(path)
    config = AutoConfig.from_pretrained(str(path), trust_remote_code=spec.trust_remote_code)
    config.num_labels = 1
    # Starling's config.json names the causal-LM class; the value head replaces its LM head
    config.architectures = None
    model = AutoModelForSequenceClassification.from_config(config, trust_remote_code=spec.trust_remote_code,
                                                           dtype=dtype)
    state = reward_state_dict(_reward_state_dict(path, spec.allow_pickle))
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ModelLoadError(f"reward model {spec.name} ({path}): missing weights {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}; unexpected weights {unexpected[:5]}"
                             f"{' ...' if len(unexpected) > 5 else ''}")
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = config.eos_token_id if isinstance(config.eos_token_id, int) else 0
    quant = quantization_config(spec.quantization, dtype) if device.startswith("cuda") else None
    if quant is not None:
        log.warning("%s: %s quantization is not applied to reward models (loaded in %s)", spec.name,
                    spec.quantization, dtype)
    return model.to(device).eval()
