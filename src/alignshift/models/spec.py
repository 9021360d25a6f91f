"""A registry entry: what a model is and where its weights come from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


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
    prompt_format: str = "auto"  # auto (chat template or plain text) | alpaca
    dtype: str = "auto"
    quantization: str = "none"
    device_map: str | None = None  # "auto": one model spread over all of the job's GPUs
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
