"""The text a model sees before its answer."""

from __future__ import annotations

PROMPT_FORMATS = ("auto", "alpaca")

# The Alpaca instruct template (Taori et al. 2023), as PoliTune's released code formats
# every training and evaluation prompt (through torchtune's AlpacaInstructTemplate): the
# no-input form, and the input form used only when an input is given. Written here from
# the published template; tests/test_politune.py checks the rendered strings.
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
ALPACA_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)


def alpaca(instruction: str, input: str = "") -> str:
    """The Alpaca prompt for `instruction` (with `input` when it is not empty), ending in
    "### Response:\\n"; the instruction and input are inserted as they are."""
    if input:
        return ALPACA_INPUT.format(instruction=instruction, input=input)
    return ALPACA_NO_INPUT.format(instruction=instruction)


def format_prompt(tokenizer, user: str, *, chat: bool, system: str | None = None,
                  assistant_prefix: str = "", prompt_format: str = "auto") -> str:
    """The text a model sees before its answer: with `prompt_format: auto`, the chat
    template for chat models and the plain text otherwise; with `alpaca`, the Alpaca
    instruct template and no chat template (a system prompt has no place in it and is
    left out, as for plain models). `assistant_prefix` starts the answer (e.g. a
    response template's words before the slot)."""
    if prompt_format == "alpaca":
        return alpaca(user) + assistant_prefix
    if prompt_format != "auto":
        raise ValueError(f"prompt_format must be one of {PROMPT_FORMATS}, not {prompt_format!r}")
    if chat and tokenizer.chat_template:
        messages = ([{"role": "system", "content": system}] if system is not None else [])
        messages.append({"role": "user", "content": user})
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = user + "\nAnswer:" + (" " if assistant_prefix and not assistant_prefix.startswith(" ") else "")
    return text + assistant_prefix
