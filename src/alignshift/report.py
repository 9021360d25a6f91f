"""Metrics tables for `snakemake --report`: each `results/metrics/<name>.csv` as a
self-contained HTML page, which the report shows inline beside the figures (a CSV file
would only be offered for download)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from .tables import displayable, read_csv

STYLE = """
body { font-family: sans-serif; font-size: 13px; margin: 1em; }
table { border-collapse: collapse; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { position: sticky; top: 0; background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
"""


def metrics_table_html(csv_path: str | Path, out: str | Path) -> None:
    """Write the metrics table at `csv_path` as an HTML page (every row, numbers to 4
    significant digits; the CSV keeps full precision)."""
    csv_path = Path(csv_path)
    table = read_csv(csv_path)
    for column in table.columns[table.dtypes.map(pd.api.types.is_string_dtype)]:
        table[column] = table[column].map(displayable)  # model text: control characters as escapes
    body = table.to_html(index=False, border=0, na_rep="", float_format=lambda x: f"{x:.4g}")
    title = html.escape(csv_path.stem)
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{STYLE}</style></head><body>\n<h3>{title}</h3>\n"
            f"<p>{len(table)} rows &times; {len(table.columns)} columns; full precision in "
            f"<code>{html.escape(str(csv_path))}</code></p>\n{body}\n</body></html>\n")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(page)
