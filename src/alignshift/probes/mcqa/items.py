"""mcqa: Belebele multiple choice, read from the log-probabilities of the answer letters."""

from __future__ import annotations

import pandas as pd

from .. import ProbeError
from ..protocol import LOG_LIKELIHOOD

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (LOG_LIKELIHOOD,)

CHOICE_LAYOUTS = ("inline", "lines")


def choices_text(answers: list[str], letters: list[str], spec: dict) -> str:
    """The options as the prompt lists them: "inline" `(A) x (B) y ...`; "lines" one per
    line after a newline, as the released Belebele script (`"\\n" + "\\n".join(...)`, so
    "Choices: \\n(A) x\\n(B) y")."""
    layout = spec.get("choice_layout", "inline")
    if layout not in CHOICE_LAYOUTS:
        raise ProbeError(f"mcqa.choice_layout: {layout!r} is not one of {CHOICE_LAYOUTS}")
    listed = [f"({letter}) {answer}" for letter, answer in zip(letters, answers)]
    return " ".join(listed) if layout == "inline" else "\n" + "\n".join(listed)


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    table = tables["belebele"]
    if spec["max_per_language"]:
        table = table.groupby("dialect", sort=False).head(spec["max_per_language"])
    letters = list(spec["letters"])
    answer = spec.get("answer_format", "{letter}")
    rows = []
    for q in table.itertuples():
        answers = [q.mc_answer1, q.mc_answer2, q.mc_answer3, q.mc_answer4]
        prompt = fmt(spec["prompt"].format(context=q.flores_passage, question=q.question,
                                           choices=choices_text(answers, letters, spec)))
        # after a chat template the answer starts a turn; in plain text it follows the
        # prompt's last word with a space, unless the prompt already ends in one ("is: ")
        space = "" if fmt.chat or prompt[-1:].isspace() else " "
        gold = letters[int(q.correct_answer_num) - 1]
        for letter in letters:
            rows.append({"item": q.item, "variant": "", "candidate": letter, "prompt": prompt,
                         "continuation": space + answer.format(letter=letter), "language": q.dialect, "gold": gold})
    return pd.DataFrame(rows)
