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


ANSWER_CUE = "\nAnswer:"
PREFIX_JOINS = ("direct", "space_strip")


def format_prompt(tokenizer, user: str, *, chat: bool | str, system: str | None = None,
                  assistant_prefix: str = "", answer_cue: str = ANSWER_CUE, prefix_join: str = "direct",
                  prompt_format: str = "auto") -> str:
    """The text a model sees before its answer.

    `prompt_format: alpaca` gives the Alpaca instruct template and no chat template (a
    system prompt has no place in it and is left out); with `auto`:
    `chat`: True applies the tokenizer's chat template (plain text if it has none),
    False gives plain text, a string is a Jinja chat template applied instead of the
    tokenizer's (a released run's exact template). Plain text is `user + answer_cue`.
    `assistant_prefix` starts the answer (a response template's words before its slot),
    joined by `prefix_join`: "direct" puts it right after a chat template's generation
    prompt, or after the plain text with one space; "space_strip" is the released
    AskReddit script's `(prompt + " " + prefix).strip()` for every model (so a template's
    trailing newline becomes "\\n I think", or is stripped when there is no prefix).
    """
    if prompt_format == "alpaca":
        return alpaca(user) + assistant_prefix
    if prompt_format != "auto":
        raise ValueError(f"prompt_format must be one of {PROMPT_FORMATS}, not {prompt_format!r}")
    if prefix_join not in PREFIX_JOINS:
        raise ValueError(f"prefix_join {prefix_join!r}: expected one of {PREFIX_JOINS}")
    template = chat if isinstance(chat, str) else None
    templated = bool(template) or bool(chat and tokenizer.chat_template)
    if templated:
        messages = ([{"role": "system", "content": system}] if system is not None else [])
        messages.append({"role": "user", "content": user})
        text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)
    else:
        text = user + answer_cue
    if prefix_join == "space_strip":
        return (text + " " + assistant_prefix).strip()
    if not templated and assistant_prefix and not assistant_prefix.startswith(" ") and not text[-1:].isspace():
        text += " "
    return text + assistant_prefix
