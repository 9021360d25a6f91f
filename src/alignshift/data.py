"""Datasets: each loader turns a source (shipped file, hub dataset) into one tidy table.

A loader validates what it reads and names the file, row and column of anything
wrong, so a bad row stops the `prepare_data` job before its output exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

LOADERS: dict[str, Callable[..., pd.DataFrame]] = {}


class DataError(ValueError):
    """Malformed input data; the message names the file, row and column."""


def loader(name: str):
    def register(fn):
        LOADERS[name] = fn
        return fn

    return register


def require_columns(df: pd.DataFrame, columns: list[str], source: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; found {list(df.columns)}")
    for col in columns:
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            row = int(empty.idxmax())
            raise DataError(f"{source}: row {row + 2} has an empty {col!r}")  # +2: header, 1-based


def require_values(df: pd.DataFrame, column: str, allowed: set, source: str) -> None:
    bad = ~df[column].isin(allowed)
    if bad.any():
        row = int(bad.idxmax())
        raise DataError(f"{source}: row {row + 2} has {column}={df[column].iloc[row]!r}; expected one of {sorted(allowed, key=str)}")


def require_unique(df: pd.DataFrame, column: str, source: str) -> None:
    dup = df[column].duplicated()
    if dup.any():
        raise DataError(f"{source}: duplicate {column} {df[column][dup].iloc[0]!r}")


def require_slot(df: pd.DataFrame, column: str, slot: str, source: str, exactly_once: bool = True) -> None:
    counts = df[column].astype(str).map(lambda text: text.count(slot))
    bad = (counts != 1) if exactly_once else (counts < 1)
    if bad.any():
        row = int(bad.idxmax())
        raise DataError(f"{source}: row {row + 2} {column} {df[column].iloc[row]!r} must contain {slot} "
                        f"{'exactly once' if exactly_once else ''}".rstrip())


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
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {line_no} is not valid JSON ({exc.msg})") from exc
    df = pd.DataFrame(rows)
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


def prepare(spec: dict) -> pd.DataFrame:
    """Run the loader a dataset entry of the config names."""
    name = spec["loader"]
    if name not in LOADERS:
        raise DataError(f"unknown loader {name!r}; known: {sorted(LOADERS)}")
    args = {k: v for k, v in spec.items() if k != "loader"}
    df = LOADERS[name](**args)
    if df.empty:
        raise DataError(f"{args.get('path', name)}: no rows")
    return df


def source_revision(spec: dict) -> str:
    """The revision of a dataset source: the content hash of a local file."""
    from .models import sha256_file

    path = spec.get("path")
    if path and Path(path).is_file():
        return sha256_file(Path(path))[:16]
    return str(spec.get("revision", "unknown"))
