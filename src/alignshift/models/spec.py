"""A registry entry: what a model is and where its weights come from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


class ModelLoadError(RuntimeError):
    """A model cannot be fetched or loaded; the message names the model and file."""


class ModelSpecError(ValueError):
    """A registry entry with a setting ModelSpec does not know."""


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry (see config/README.md, `models:`): every setting the config
    schema knows is a field, so a spec crosses every job boundary (rule params, manifests)
    whole: `from_dict(spec.to_dict()) == spec`."""

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
    evaluate: bool = True  # false: a helper model (teacher, judge), fetched, never probed
    answer_prefill: str | None = None  # text after the chat template's generation prompt
    released: dict | None = None  # scores from the authors' released outputs (never fetched)
    adapter: str | None = None  # for fine-tuning checkpoints: the adapter directory
    run: str | None = None
    step: int | None = None

    @classmethod
    def fields(cls) -> list[str]:
        return list(cls.__dataclass_fields__)

    @classmethod
    def from_config(cls, name: str, entry: dict) -> "ModelSpec":
        """A config's `models.<name>` entry; an unknown setting is an error naming it.
        `label` (the name figures print) is the model table's, not the model's: renaming
        a model never reruns its evaluation."""
        entry = {k: v for k, v in entry.items() if k != "label"}
        unknown = sorted(set(entry) - set(cls.fields()) - {"name"})
        if unknown:
            raise ModelSpecError(f"models.{name}.{unknown[0]}: unknown model setting; known: "
                                 f"{sorted(f for f in cls.fields() if f != 'name')}")
        return cls(**{**entry, "name": name})

    @classmethod
    def from_dict(cls, spec: dict) -> "ModelSpec":
        """The inverse of `to_dict` (what a rule hands a job, what a manifest records)."""
        return cls.from_config(spec["name"], {k: v for k, v in spec.items() if k != "name"})

    def to_dict(self) -> dict:
        return asdict(self)


def id_kind(model_id: str) -> str:
    if model_id.startswith("pypi:"):
        return "pypi_gguf"
    if model_id.startswith("stand-in:"):
        return "stand_in"
    if model_id.startswith(("/", "./", "../", "~")) or Path(model_id).expanduser().is_dir():
        return "local"
    return "hub"
