"""mcqa: Belebele multiple choice, read from the log-probabilities of the answer letters."""

from __future__ import annotations

import pandas as pd


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    table = tables["belebele"]
    if spec["max_per_language"]:
        table = table.groupby("dialect", sort=False).head(spec["max_per_language"])
    letters = list(spec["letters"])
    # after a chat template the answer starts a turn; in plain text it follows "is:"
    space = "" if getattr(fmt, "chat", False) else " "
    rows = []
    for q in table.itertuples():
        answers = [q.mc_answer1, q.mc_answer2, q.mc_answer3, q.mc_answer4]
        choices = " ".join(f"({letter}) {answer}" for letter, answer in zip(letters, answers))
        prompt = fmt(spec["prompt"].format(context=q.flores_passage, question=q.question, choices=choices))
        gold = letters[int(q.correct_answer_num) - 1]
        for letter in letters:
            rows.append({"item": q.item, "variant": "", "candidate": letter, "prompt": prompt,
                         "continuation": space + letter, "language": q.dialect, "gold": gold})
    return pd.DataFrame(rows)
