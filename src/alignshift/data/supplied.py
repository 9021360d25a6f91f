"""Datasets a user places by hand (MD3, a Political Compass file): never shipped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..provenance import files_fingerprint
from . import loader
from .checks import DataError, literal, require_columns, require_unique, require_values


MD3_DIALECTS = ("en_in", "en_ng", "en_us")


@loader("md3")
def load_md3(path: str, dialects: list[str] | None = None, max_per_dialect: int | None = None,
             manual: bool = True) -> pd.DataFrame:
    """MD3 (Eisenstein et al. 2023; not on a hub: `path` is the directory of its release,
    holding prompts_<dialect>.tsv and transcripts_<dialect>.tsv).

    Filtering as in the paper: word games (`game_type` word) that the players won
    (`prompt_status` win); each transcript (speaker turns of the clip, consecutive
    duplicates dropped) is cut right before the first turn that says the secret word.
    A game whose transcript never says the word is dropped (the cut point is unknown).
    `manual` (the config's mark of hand-downloaded data, see data.smk) is not used here.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{path}: MD3 directory not found (download the MD3 release and point "
                        "datasets.md3.path at the folder holding prompts_<dialect>.tsv)")
    rows, files = [], []
    for dialect in dialects or MD3_DIALECTS:
        prompts_file, transcripts_file = root / f"prompts_{dialect}.tsv", root / f"transcripts_{dialect}.tsv"
        for f in (prompts_file, transcripts_file):
            if not f.exists():
                raise DataError(f"{f}: missing MD3 file for dialect {dialect}")
        files += [prompts_file, transcripts_file]
        prompts = pd.read_csv(prompts_file, sep="\t", dtype=str)
        require_columns(prompts, ["clip_identifier", "game_type", "prompt_status", "correct_word/image"],
                        str(prompts_file))
        if "distractors" not in prompts.columns:
            raise DataError(f"{prompts_file}: missing column 'distractors'")
        turns = pd.read_csv(transcripts_file, sep="\t", dtype=str).drop_duplicates()
        require_columns(turns.head(0), ["clip_identifier", "speaker_id", "transcript"], str(transcripts_file))
        by_clip = {clip: g for clip, g in turns.groupby("clip_identifier", sort=False)}
        kept = prompts[(prompts["game_type"] == "word") & (prompts["prompt_status"] == "win")]
        n = 0
        for idx, game in kept.iterrows():
            where = f"{prompts_file}: row {idx + 2}"
            distractors = literal(game["distractors"], f"{where} column 'distractors'")
            if not isinstance(distractors, list):
                raise DataError(f"{where}: distractors must be a list")
            word = str(game["correct_word/image"]).strip()
            lines, last = [], {}
            for t in by_clip.get(game["clip_identifier"], pd.DataFrame()).itertuples():
                if not isinstance(t.speaker_id, str) or not isinstance(t.transcript, str):
                    continue
                if last.get(t.speaker_id) == t.transcript:
                    continue  # the release repeats a speaker's turn
                last[t.speaker_id] = t.transcript
                lines.append(f"{t.speaker_id.strip()}: {t.transcript.strip()}")
            cut = next((k for k, line in enumerate(lines) if word.lower() in line.lower()), None)
            if cut is None:
                continue
            rows.append({"id": game["clip_identifier"], "dialect": dialect, "transcript": "\n".join(lines[:cut]),
                         "correct_word": word, "distractors": [str(d) for d in distractors]})
            n += 1
            if max_per_dialect and n >= max_per_dialect:
                break
    df = pd.DataFrame(rows)
    df.attrs["revision"] = files_fingerprint(files)
    return df


COMPASS_ANSWERS = ("Strongly disagree", "Disagree", "Agree", "Strongly agree")


@loader("compass_statements")
def load_compass_statements(path: str, scoring: str) -> pd.DataFrame:
    """A user-supplied Political Compass test (its text is not shipped; data/README.md).

    `path`: CSV with `id`, `statement`. `scoring`: CSV with `id`, `answer` (each of
    Strongly disagree, Disagree, Agree, Strongly agree once per statement),
    `economic`, `social` (that answer's contribution to each axis: + right /
    authoritarian). Returns the `ideology` probe's questionnaire shape, one row per
    (statement, axis the statement moves): id, axis, direction (1), statement, and
    `option_values`, the four answers' weights on that axis in the order above.
    """
    statements = pd.read_csv(path, dtype={"id": str, "statement": str})
    require_columns(statements, ["id", "statement"], path)
    require_unique(statements, "id", path)
    table = pd.read_csv(scoring, dtype={"id": str, "answer": str})
    require_columns(table, ["id", "answer", "economic", "social"], scoring)
    require_values(table, "answer", set(COMPASS_ANSWERS), scoring)
    require_values(table, "id", set(statements["id"]), scoring)
    for col in ("economic", "social"):
        numeric = pd.to_numeric(table[col], errors="coerce")
        if numeric.isna().any():
            row = int(numeric.isna().idxmax())
            raise DataError(f"{scoring}: row {row + 2} has a non-numeric {col!r}: {table[col].iloc[row]!r}")
        table[col] = numeric.astype(float)
    dup = table.duplicated(["id", "answer"])
    if dup.any():
        row = int(dup.idxmax())
        raise DataError(f"{scoring}: row {row + 2} repeats answer {table.answer.iloc[row]!r} of {table.id.iloc[row]!r}")
    rows = []
    for st in statements.itertuples():
        weights = table[table["id"] == st.id].set_index("answer")
        missing = [a for a in COMPASS_ANSWERS if a not in weights.index]
        if missing:
            raise DataError(f"{scoring}: statement {st.id!r} has no weight for {missing}")
        for axis in ("economic", "social"):
            values = [float(weights.loc[a, axis]) for a in COMPASS_ANSWERS]
            if any(values):
                rows.append({"id": st.id, "axis": axis, "direction": 1, "statement": st.statement,
                             "option_values": values})
    if not rows:
        raise DataError(f"{scoring}: every weight is zero")
    out = pd.DataFrame(rows)
    out.attrs["revision"] = files_fingerprint([path, scoring])
    return out
