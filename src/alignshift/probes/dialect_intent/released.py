"""The dialect_intent probe's released outputs (alignshift.data.released).

Format `unintended_impacts`: `outputs/md3-game/<stem>-no-answers.csv`: `correct` =
`generated_correct_answer_num`, `answer` = `generated_answer`.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from ...data.checks import DataError, read_csv_input, require_columns, require_present
from ...data.released import Converter


def unintended_impacts(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path, keep_default_na=False)
    require_columns(df, ["dialect", "correct_answer", "generated_correct_answer_num"], str(path))
    require_present(df, ["generated_answer", "transcript"], path)  # may be empty (an empty generation)
    # the release has no game id: a game is its dialect, transcript and word (with a
    # running count for repeats), the same in every model's file
    key = df["dialect"] + "\x1f" + df["transcript"] + "\x1f" + df["correct_answer"]
    digest = key.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:12])
    item = df["dialect"] + "-" + digest + "-" + digest.groupby(digest).cumcount().astype(str)
    correct = pd.to_numeric(df["generated_correct_answer_num"], errors="coerce")
    if correct.isna().any() or not correct.isin([0, 1]).all():
        raise DataError(f"{path}: generated_correct_answer_num must be 0 or 1")
    return pd.DataFrame({"item": item, "variant": "", "candidate": "", "dialect": df["dialect"],
                         "correct_word": df["correct_answer"], "answer": df["generated_answer"],
                         "correct": correct.astype(float)})


CONVERTERS = [Converter("unintended_impacts", unintended_impacts)]
