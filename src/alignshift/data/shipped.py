"""Files the project ships (data/README.md), and the same formats from a user."""

from __future__ import annotations

import pandas as pd
import yaml

from . import loader
from .checks import DataError, read_jsonl, require_columns, require_slot, require_unique, require_values


@loader("questionnaire")
def load_questionnaire(path: str) -> pd.DataFrame:
    """Keyed Likert questionnaire: id, axis (economic|social), direction (+1|-1), statement."""
    df = pd.read_csv(path, dtype={"id": str, "statement": str, "axis": str})
    require_columns(df, ["id", "axis", "direction", "statement"], path)
    require_values(df, "axis", {"economic", "social"}, path)
    require_values(df, "direction", {1, -1}, path)
    require_unique(df, "id", path)
    return df[["id", "axis", "direction", "statement"]].assign(direction=lambda d: d.direction.astype(int))


@loader("policy_stances")
def load_policy_stances(path: str) -> pd.DataFrame:
    """Prompts with a left and a right answer (the same prompt, opposite stances)."""
    df = read_jsonl(path)
    try:
        require_columns(df, ["id", "axis", "prompt", "left", "right"], path)
    except DataError as exc:
        raise DataError(str(exc).replace("row", "line")) from None
    require_unique(df, "id", path)
    return df[["id", "axis", "prompt", "left", "right"]]


@loader("scenarios")
def load_scenarios(path: str) -> pd.DataFrame:
    """Country-pair scenario bank as one long table.

    kind=scenario: key=scenario id, type, language, text (slots {a}, {b});
    kind=country|fictional: key=country id, language, text=its name in that language;
    kind=template: key=template name (more, less, instruction, option_a, option_b).
    """
    with open(path, encoding="utf-8") as fh:
        try:
            bank = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML: {exc}") from exc
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
    df = pd.read_csv(path, dtype=str)
    require_columns(df, ["id", "question", "template", "sentiment", "category"], path)
    require_values(df, "sentiment", {"positive", "negative"}, path)
    require_slot(df, "template", "{country}", path)
    require_unique(df, "id", path)
    return df[["id", "question", "template", "sentiment", "category"]]


@loader("countries")
def load_countries(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str)
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
