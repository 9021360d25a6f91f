"""Checks that name the file, row and column of anything wrong in an input."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd

from ..tables import decode_utf8, utf8_safe


class DataError(ValueError):
    """Malformed input data; the message names the file, row and column."""


def read_csv_input(path, **kwargs) -> pd.DataFrame:
    """An input CSV or TSV (a user's file, a download) read by pandas, after checking it
    is UTF-8: one that is not (a Latin-1 export) is named with its line."""
    decode_utf8(Path(path).read_bytes(), path, DataError)
    return pd.read_csv(path, **kwargs)


def require_columns(df: pd.DataFrame, columns: list[str], source: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; found {list(df.columns)}")
    for col in columns:
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            row = int(empty.idxmax())
            raise DataError(f"{source}: row {row + 2} has an empty {col!r}")  # +2: header, 1-based


def require_present(df: pd.DataFrame, columns: list[str], source) -> None:
    """The columns exist (their cells may be empty: an empty generation)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column {missing[0]!r}")


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


def read_jsonl(path: str) -> pd.DataFrame:
    """One row per JSON object line; text values with any lone surrogate (a `\\ud800`
    escape) made UTF-8-safe (`tables.utf8_safe`)."""
    rows = []
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            line = decode_utf8(raw, path, DataError, first_line=line_no)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {line_no} is not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {line_no} is not a JSON object")
            rows.append({k: utf8_safe(v) if isinstance(v, str) else v for k, v in record.items()})
    return pd.DataFrame(rows)


def literal(text: str, where: str):
    """A Python literal (list, dict, number, string) from text, without evaluating code."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise DataError(f"{where}: not a Python literal ({type(exc).__name__}): {text[:80]!r}") from exc
