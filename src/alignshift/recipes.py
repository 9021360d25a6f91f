"""A training recipe checked against the libraries that will read it, when the study is
planned: its `training` keys against trl's SFTConfig / DPOConfig, its `lora` keys against
peft's LoraConfig (unknown keys, values of the wrong type, and whatever the config
classes themselves refuse), so a typo is named with its recipe and run before any job is
queued, not after a model has loaded on a GPU node.

Types are checked here because the config classes do not: `learning_rate: 1e-3` is a
string in YAML (no dot), and `DPOConfig` takes it as one.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
import warnings

# recipe keys read by alignshift itself (finetune.py, planning.py), not by trl or peft
OWN_KEYS = {"method", "quantization", "prompt_sharing", "lora", "training", "format", "epochs"}
METHODS = ("sft", "dpo")


class RecipeError(ValueError):
    """A recipe trl or peft would refuse, or would read as something else."""


@functools.cache
def _config_class(method: str):
    if method == "dpo":
        from trl import DPOConfig

        return DPOConfig
    from trl import SFTConfig

    return SFTConfig


def _fits(value, annotation) -> bool:
    """Whether a YAML value can be `annotation` (the simple types; anything else passes
    and is left to the config class)."""
    if isinstance(annotation, str):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if annotation is list or origin is list:
        return isinstance(value, list)
    if annotation is dict or origin is dict:
        return isinstance(value, dict)
    return True


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _check_fields(section: str, values: dict, cls, where: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(f"{where}: {section}.{key} is not a {cls.__name__} field{hint}; {section} keys are "
                              f"{cls.__module__.split('.')[0]} {cls.__name__} fields")
        annotation = hints.get(key, fields[key].type)
        if not _fits(value, annotation):
            raise RecipeError(f"{where}: {section}.{key} is {value!r} ({type(value).__name__}), but {cls.__name__} "
                              f"takes {_type_name(annotation)}"
                              + (" (YAML reads 1e-3 as text: write 1.0e-3)" if isinstance(value, str) else ""))


def check(recipe: dict, where: str) -> None:
    """Refuse a recipe trl or peft would refuse or misread; `where` names the run and file."""
    unknown = sorted(set(recipe) - OWN_KEYS)
    if unknown:
        raise RecipeError(f"{where}: unknown recipe key {unknown[0]!r}; a recipe has {sorted(OWN_KEYS)}")
    method = recipe.get("method")
    if method not in METHODS:
        raise RecipeError(f"{where}: method must be one of {list(METHODS)}, not {method!r}")
    from peft import LoraConfig

    config = _config_class(method)
    training = dict(recipe.get("training") or {})
    lora = dict(recipe.get("lora") or {})
    # the step count is planning's (`planning.step_settings`: null with `epochs`, planned
    # from the data); a placeholder stands in for it
    training.pop("max_steps", None)
    _check_fields("training", training, config, where)
    _check_fields("lora", lora, LoraConfig, where)
    training["max_steps"] = 1
    try:
        with warnings.catch_warnings():  # deprecation notices belong to the training job's log
            warnings.simplefilter("ignore")
            config(output_dir="unused", use_cpu=True, report_to="none", **training)
            LoraConfig(task_type="CAUSAL_LM", **lora)
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{where}: {err}") from None
