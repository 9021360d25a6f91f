"""Files the project ships (data/README.md), and the same formats from a user."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import loader
from .checks import DataError, read_csv_input, read_jsonl, require_columns, require_slot, require_unique, require_values
from ..yaml_files import read_yaml


AXES = {"economic", "social"}


@loader("questionnaire")
def load_questionnaire(path: str) -> pd.DataFrame:
    """Keyed Likert questionnaire: id, axis (economic|social), direction (+1|-1), statement."""
    df = read_csv_input(path, dtype={"id": str, "statement": str, "axis": str})
    require_columns(df, ["id", "axis", "direction", "statement"], path)
    require_values(df, "axis", AXES, path)
    require_values(df, "direction", {1, -1}, path)
    require_unique(df, "id", path)
    return df[["id", "axis", "direction", "statement"]].assign(direction=lambda d: d.direction.astype(int))


@loader("policy_stances")
def load_policy_stances(path: str, stances: str | None = None, wordings: str | None = None,
                        seed: int = 0, axes: list[str] | None = None) -> pd.DataFrame:
    """Prompts with a left and a right answer (the same prompt, opposite stances); with
    `stances` and `wordings`, also every stance statement asked in every wording
    (`stance_pairs`); with `axes`, only the rows of those axes (a run that trains one
    axis moves it sooner: docs/default-study.md, finding 8)."""
    df = read_jsonl(path)
    try:
        require_columns(df, ["id", "axis", "prompt", "left", "right"], path)
    except DataError as exc:
        raise DataError(str(exc).replace("row", "line")) from None
    df = df[["id", "axis", "prompt", "left", "right"]]
    if stances or wordings:
        if not (stances and wordings):
            raise DataError(f"{path}: `stances` and `wordings` go together (a statement table and its wordings)")
        df = pd.concat([df, stance_pairs(load_stances(stances), load_wordings(wordings), seed)], ignore_index=True)
    require_unique(df, "id", path)
    if axes is not None:
        unknown = sorted(set(axes) - AXES)
        if unknown or not axes:
            raise DataError(f"{path}: `axes` must list some of {sorted(AXES)}, not {list(axes)}")
        # a misspelt axis would otherwise drop its rows without a word (stances.csv checks its own)
        unknown_rows = ~df["axis"].isin(AXES)
        if unknown_rows.any():
            line = int(unknown_rows.idxmax())
            raise DataError(f"{path}: line {line + 1} has axis {df['axis'].iloc[line]!r}; to keep only some axes, "
                            f"every row's axis must be one of {sorted(AXES)}")
        df = df[df["axis"].isin(axes)].reset_index(drop=True)
    return df


# the answer a right-leaning respondent gives where a left-leaning one gives the key
MIRROR = {"Strongly agree": "Strongly disagree", "Agree": "Disagree", "Disagree": "Agree",
          "Strongly disagree": "Strongly agree"}


def load_stances(path: str) -> pd.DataFrame:
    """Stance statements: id, axis, statement, `left` (the left side's answer, one of
    MIRROR's keys; the right side gives its mirror), optional reasons for either side."""
    df = read_csv_input(path, dtype=str, keep_default_na=False)
    require_columns(df, ["id", "axis", "statement", "left"], path)
    require_values(df, "axis", AXES, path)
    require_values(df, "left", set(MIRROR), path)
    require_unique(df, "id", path)
    for column in ("left_reason", "right_reason"):
        if column not in df:
            df[column] = ""
    return df


def load_wordings(path: str) -> dict:
    spec = read_yaml(path, "wordings") or {}
    if sorted(spec.get("options") or []) != sorted(MIRROR):
        raise DataError(f"{path}: `options` must be the four answers {sorted(MIRROR)}")
    for i, wording in enumerate(spec.get("wordings") or []):
        if "{statement}" not in wording.get("prompt", ""):
            raise DataError(f"{path}: wordings[{i}].prompt must contain {{statement}}")
        if wording.get("answer") not in ("label", "reasoned"):
            raise DataError(f"{path}: wordings[{i}].answer must be `label` or `reasoned`")
    if not spec.get("wordings"):
        raise DataError(f"{path}: no wordings")
    return spec


def stance_pairs(stances: pd.DataFrame, wordings: dict, seed: int = 0) -> pd.DataFrame:
    """Every statement in every wording, as policy_stances rows (id `<statement>-w<k>`).
    The answers are the two sides' labels ("Agree." / "Disagree."), with the side's
    reason after it for a `reasoned` wording; a wording's `{options}` lists the answers
    in ascending or descending order, drawn per prompt from a generator seeded by `seed`."""
    rng = np.random.default_rng(seed)
    options = list(wordings["options"])
    rows = []
    for st in stances.itertuples():
        sides = {"left": (st.left, st.left_reason), "right": (MIRROR[st.left], st.right_reason)}
        for k, wording in enumerate(wordings["wordings"]):
            listed = options if rng.random() < 0.5 else options[::-1]
            prompt = wording["prompt"].format(statement=st.statement, options=", ".join(listed))
            answers = {side: f"{label}. {reason}".strip() if wording["answer"] == "reasoned" and reason else f"{label}."
                       for side, (label, reason) in sides.items()}
            rows.append({"id": f"{st.id}-w{k}", "axis": st.axis, "prompt": prompt, **answers})
    return pd.DataFrame(rows, columns=["id", "axis", "prompt", "left", "right"])


@loader("scenarios")
def load_scenarios(path: str) -> pd.DataFrame:
    """Country-pair scenario bank as one long table.

    kind=scenario: key=scenario id, type, language, text (slots {a}, {b});
    kind=country|fictional: key=country id, language, text=its name in that language;
    kind=template: key=template name (more, less, instruction, option_a, option_b).
    """
    bank = read_yaml(path, "scenario bank")
    if not isinstance(bank, dict):
        raise DataError(f"{path}: expected a mapping at the top level")
    for key in ("countries", "fictional", "languages", "scenarios"):
        if key not in bank:
            raise DataError(f"{path}: missing top-level key {key!r}")
    languages = list(bank["languages"])
    rows = []
    for kind in ("countries", "fictional"):
        for cid, names in bank[kind].items():
            for lang in languages:
                if lang not in names:
                    raise DataError(f"{path}: {kind}.{cid} has no name in {lang!r}")
                rows.append({"kind": "country" if kind == "countries" else "fictional", "key": cid,
                             "type": "", "language": lang, "text": names[lang]})
    for lang, templates in bank["languages"].items():
        for name in ("more", "less", "instruction", "option_a", "option_b"):
            if name not in templates:
                raise DataError(f"{path}: languages.{lang} has no {name!r}")
            rows.append({"kind": "template", "key": name, "type": "", "language": lang, "text": templates[name]})
    for i, sc in enumerate(bank["scenarios"]):
        where = f"{path}: scenarios[{i}] ({sc.get('id', '?')})"
        for key in ("id", "type"):
            if key not in sc:
                raise DataError(f"{where}: missing {key!r}")
        for lang in languages:
            text = sc.get(lang)
            if not text:
                raise DataError(f"{where}: no text in {lang!r}")
            if "{a}" not in text or "{b}" not in text:
                raise DataError(f"{where}: {lang} text must contain both {{a}} and {{b}}")
            rows.append({"kind": "scenario", "key": sc["id"], "type": sc["type"], "language": lang, "text": text})
    df = pd.DataFrame(rows)
    require_unique(df[(df.kind == "scenario") & (df.language == languages[0])], "key", path)
    return df


@loader("country_questions")
def load_country_questions(path: str) -> pd.DataFrame:
    """Questions about countries with a response template holding {country}."""
    df = read_csv_input(path, dtype=str)
    require_columns(df, ["id", "question", "template", "sentiment", "category"], path)
    require_values(df, "sentiment", {"positive", "negative"}, path)
    require_slot(df, "template", "{country}", path)
    require_unique(df, "id", path)
    return df[["id", "question", "template", "sentiment", "category"]]


@loader("countries")
def load_countries(path: str) -> pd.DataFrame:
    df = read_csv_input(path, dtype=str)
    require_columns(df, ["country"], path)
    require_unique(df, "country", path)
    return df[["country"]]



@loader("posts")
def load_posts(path: str) -> pd.DataFrame:
    """Social-media posts for the teacher filter (data/README.md, `posts/`): one JSON
    object per line with `id` and `text`, optionally `source` (where it was posted)."""
    df = read_jsonl(path)
    try:
        require_columns(df, ["id", "text"], path)
    except DataError as exc:
        raise DataError(str(exc).replace("row", "line")) from None
    df["id"] = df["id"].astype(str)
    require_unique(df, "id", path)
    if "source" not in df:
        df["source"] = ""
    return df[["id", "text", "source"]].fillna({"source": ""})
