"""CSV tables that carry model text exactly.

Model answers, prompts and posts are hostile input: carriage returns, NUL, escape
sequences, quotes, delimiters, empty strings, 100 kB outputs. pandas' default CSV
writer leaves a lone ``\\r`` unquoted and its reader then splits the row; its reader
also turns the texts "", "NA", "nan" into missing values and "12" into a number. So
every CSV the project writes goes through `write_csv` and every one it reads back
through `read_csv`:

- every text field is quoted (``csv.QUOTE_NONNUMERIC``), so a row never splits, and
  any CSV reader (pandas, R, a spreadsheet) sees one field per cell;
- a missing number is written unquoted (``nan``), so a reader can tell it from text;
  a missing text is written as the empty text;
- `read_csv` reads the quoted columns as text, exactly as written, and the others as
  numbers and booleans.

The one change a table's text can undergo: a lone UTF-16 surrogate (which no UTF-8
file, CSV or Parquet, can hold, and which only a JSON escape such as an API's
``"\\ud800"`` produces) becomes U+FFFD on writing (`utf8_safe`); the row is kept.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_utf8(raw: bytes, path, error: type[Exception] = ValueError, first_line: int = 1) -> str:
    """`raw` (the bytes of `path`, or of its line `first_line`) as text; bytes that are not
    UTF-8 (a Latin-1 export) raise `error` naming the file, the line and what to do."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = first_line + raw[: err.start].count(b"\n")
        raise error(f"{path}: line {line} is not UTF-8 ({err.reason}); save the file as UTF-8 "
                    f"(e.g. iconv -f latin1 -t utf-8)") from None


def utf8_safe(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (everything else kept)."""
    return _SURROGATE.sub("\ufffd", text)


def utf8_safe_frame(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with `utf8_safe` applied to every text cell of its text columns (a copy
    where any changed, the table itself where none did)."""
    changed = {}
    for column in table.columns:
        values = table[column]
        if values.dtype.kind != "O" and not isinstance(values.dtype, pd.StringDtype):
            continue
        texts = values.map(lambda v: utf8_safe(v) if isinstance(v, str) else v)
        if not texts.equals(values):
            changed[column] = texts
    return table.assign(**changed) if changed else table


def displayable(text: str) -> str:
    """Text as a figure or an HTML page can show it: each non-printable character (a
    control character, a line or paragraph separator, a lone surrogate) as its escape,
    e.g. `\\x1b`; line breaks and tabs kept."""
    return "".join(c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


def _cell(value):
    """A cell as the csv writer should see it: text stays text (quoted), a missing value
    becomes an unquoted `nan`, numbers and booleans stay unquoted."""
    if isinstance(value, str):
        return utf8_safe(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value
    return str(value)


def write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write `table` (without its index) as UTF-8 CSV, every text field quoted;
    atomically (a temporary file renamed), so a killed job leaves no partial table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text_columns = {c for c in table.columns if table[c].dtype.kind == "O" or isinstance(table[c].dtype, pd.StringDtype)}
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow([str(c) for c in table.columns])
        for row in table.itertuples(index=False, name=None):
            writer.writerow([("" if c in text_columns and _missing(v) else _cell(v))
                             for c, v in zip(table.columns, row)])
    tmp.replace(path)


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


class TableError(ValueError):
    """A table the project cannot read: the message names the file and what to do."""


# one CSV field as `write_csv` writes it: quoted (quotes doubled inside) or bare
_FIELD = re.compile(r'"[^"]*(?:""[^"]*)*"|[^,\n]*')


def quoted_columns(text: str) -> set[int]:
    """The positions of the columns with a quoted field below the header: the text
    columns of a table `write_csv` wrote (pandas' reader does not say which fields were
    quoted)."""
    quoted, column, pos = set(), 0, text.find("\n") + 1
    while 0 < pos < len(text):
        match = _FIELD.match(text, pos)
        if text.startswith('"', pos):
            quoted.add(column)
        pos = match.end()
        if pos >= len(text):
            break
        column = column + 1 if text[pos] == "," else 0
        pos += 1
    return quoted


def read_csv(path: str | Path, text: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV table as `write_csv` wrote it: quoted columns (and those named in `text`)
    as exact text, the others as numbers and booleans with `nan` missing."""
    path = Path(path)
    raw = decode_utf8(path.read_bytes(), path, TableError)  # not read_text: it would turn \r into \n
    try:
        header = pd.read_csv(io.StringIO(raw), nrows=0).columns
        quoted = quoted_columns(raw)
        text_columns = [c for i, c in enumerate(header) if i in quoted or c in text]
        table = pd.read_csv(io.StringIO(raw), dtype={c: str for c in text_columns}, keep_default_na=False,
                            na_values={c: ["", "nan", "NaN"] for c in header if c not in text_columns})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise TableError(f"{path}: not a table alignshift can read ({err})") from err
    return table
