"""Load a fetched model (and a fine-tuning checkpoint's adapter) for inference."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from ..provenance import files_fingerprint
from .spec import ModelLoadError, ModelSpec
from .weights import check_weights_dir

log = logging.getLogger(__name__)


def resolve_device(prefer: str | None = None) -> "str":
    """`prefer`, else this job's own GPU(s) (claimed before CUDA starts, so concurrent
    GPU jobs use different cards: alignshift.devices), else the CPU."""
    import torch

    if prefer:
        return prefer
    from ..devices import claim

    claim()
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def quantization_config(quantization: str, compute_dtype):
    """bitsandbytes 8/4-bit (GPU only); None for full precision."""
    if quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=compute_dtype, bnb_4bit_use_double_quant=True)
    raise ValueError(f"unknown quantization {quantization!r} (none | 8bit | 4bit)")


class LoadedModel:
    """A fetched model ready for inference. The tokenizer and revision are at hand at
    once; the weights load on first use of `.model`, so a job whose results are all
    cached never loads them."""

    def __init__(self, spec: ModelSpec, tokenizer, revision: str, device: str, dtype, loader):
        self.spec, self.tokenizer, self.revision, self.device = spec, tokenizer, revision, device
        self.dtype = str(dtype).removeprefix("torch.")
        self._loader = loader

    @cached_property
    def model(self):
        return self._loader()


def load_tokenizer(path: str, spec: ModelSpec):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def model_revision(manifest: dict, adapter: str | None = None) -> str:
    """The fetched weights' revision, plus the adapter's content hash for a checkpoint."""
    if not adapter:
        return manifest["revision"]
    return f"{manifest['revision']}+{files_fingerprint(check_weights_dir(Path(adapter)))}"


def load(manifest: dict, spec: ModelSpec | None = None, *, adapter: str | None = None,
         device: str | None = None, lazy: bool = False) -> LoadedModel:
    """Load a fetched model (optionally + LoRA adapter, merged) for inference."""
    spec = spec or ModelSpec.from_dict(manifest["spec"])
    device = resolve_device(device)
    dtype = torch_dtype(spec.dtype, device)
    lm = LoadedModel(spec, load_tokenizer(manifest["path"], spec), model_revision(manifest, adapter), device, dtype,
                     lambda: _load_weights(manifest, spec, adapter, device, dtype))
    if not lazy:
        lm.model
    return lm


def load_fetched(manifest_path: str | Path, spec: dict, *, adapter: str | None = None,
                 device: str | None = None) -> LoadedModel:
    """A fetched model from its manifest file and its registry entry as a rule passes it
    (ModelSpec.to_dict), loaded lazily: the weights only when first used."""
    from .fetch import read_manifest

    return load(read_manifest(manifest_path), ModelSpec.from_dict(spec), adapter=adapter, device=device, lazy=True)


def _load_weights(manifest: dict, spec: ModelSpec, adapter: str | None, device: str, dtype):
    from transformers import AutoModelForCausalLM

    if spec.kind == "reward_model":
        from .reward import load_reward_model

        return load_reward_model(manifest["path"], spec, device, dtype)

    quant = quantization_config(spec.quantization, dtype) if device.startswith("cuda") else None
    if spec.quantization != "none" and quant is None:
        log.warning("%s: %s quantization needs CUDA; loading in %s instead", spec.name, spec.quantization, dtype)
    kwargs = dict(dtype=dtype, trust_remote_code=spec.trust_remote_code,
                  use_safetensors=not spec.allow_pickle)
    # `device_map: auto`: accelerate places the layers over every GPU the job holds
    spread = spec.device_map == "auto" and device.startswith("cuda")
    if spread:
        kwargs.update(device_map="auto")
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map="auto" if spread else {"": device})
    try:
        model = AutoModelForCausalLM.from_pretrained(manifest["path"], **kwargs)
    except OSError as exc:
        raise ModelLoadError(f"model {spec.name}: cannot load {manifest['path']}: {exc}") from exc
    if quant is None and not spread:
        model.to(device)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval()
