"""The text a model sees before its answer."""

from __future__ import annotations


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
