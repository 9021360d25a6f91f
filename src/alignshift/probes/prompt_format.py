"""A probe's prompts for one model: whether (and how) a chat template applies (the
probe's `chat_template` setting against the model's registry entry), the typed prompt
format a probe builds its prompts with, and its rows' prompts as the scorer's Prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..prompts import ANSWER_CUE, format_prompt
from ..scoring import Prompt
from .errors import ProbeError

CHAT_TEMPLATE_KEYWORDS = ("model", "none", "all")


def chat_setting(spec: dict, model_spec) -> bool | str:
    """Whether (and how) this probe applies a chat template to this model, from the
    probe's `chat_template` setting: "model" (default) each model's registry
    `chat_template`; "none" plain text for every model; "all" every model's own
    template; or a mapping model name -> true | false | "model" | a Jinja template, with
    `default` for the models it does not name (default "model"). Returns True (the
    tokenizer's template), False (plain text) or a Jinja template string."""
    value = spec.get("chat_template", "model")
    if isinstance(value, dict):
        value = value.get(model_spec.name, value.get("default", "model"))
        if isinstance(value, str) and value not in CHAT_TEMPLATE_KEYWORDS:
            return value  # a Jinja template
    if value is True or value == "all":
        return True
    if value is False or value is None or value == "none":
        return False
    if value == "model":
        return bool(model_spec.chat_template)
    raise ProbeError(f"chat_template: {value!r} is not one of {CHAT_TEMPLATE_KEYWORDS}, true, false or a mapping "
                     "of model names")


@dataclass(frozen=True)
class PromptFormat:
    """How this model is prompted for this probe, handed to a probe's `build` and
    `generate`: called as `fmt(user, assistant_prefix="")`, it gives the prompt text
    (`render`), which a probe may compose further and returns as its rows' `prompt`;
    `chat`: whether a chat template is applied (a probe may prompt base models
    differently); `tokenizer` and `prefill` (the model's answer prefill: text after the
    chat template's generation prompt, e.g. GLM-4 chat's "\n") for probes that build
    token ids themselves (country_pairs' paper protocol), returning a `Prompt` of them
    (`Prompt.from_token_ids`)."""

    render: Callable[[str, str], str]
    chat: bool = False
    tokenizer: Any = None
    prefill: str | None = None

    def __call__(self, user: str, assistant_prefix: str = "") -> str:
        return self.render(user, assistant_prefix)


def formatter(spec: dict, tokenizer, model_spec) -> PromptFormat:
    """The probe's prompt format for this model (its `chat_template`, `answer_cue`,
    `prefix_join` and `system_prompt` settings; see alignshift.prompts.format_prompt)."""
    chat = chat_setting(spec, model_spec)
    cue = spec.get("answer_cue", ANSWER_CUE)
    join = spec.get("prefix_join", "direct")
    prompt_format = getattr(model_spec, "prompt_format", "auto")

    def render(user: str, assistant_prefix: str = "") -> str:
        return format_prompt(tokenizer, user, chat=chat, system=spec.get("system_prompt"),
                             assistant_prefix=assistant_prefix, answer_cue=cue or "", prefix_join=join,
                             prompt_format=prompt_format)

    applied = prompt_format == "auto" and (isinstance(chat, str) or bool(chat and tokenizer.chat_template))
    return PromptFormat(render, chat=applied, tokenizer=tokenizer, prefill=getattr(model_spec, "answer_prefill", None))


def row_prompt(value) -> Prompt:
    """A probe row's `prompt` as the scorer takes it: text (what `fmt` renders), or the
    Prompt a probe made of token ids."""
    if isinstance(value, Prompt):
        return value
    if isinstance(value, str):
        return Prompt(value)
    raise ProbeError(f"a row's prompt must be text or an alignshift.scoring.Prompt, not {type(value).__name__}")
