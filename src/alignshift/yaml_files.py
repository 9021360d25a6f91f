"""YAML files a user writes (configs, recipes, banks, lock files), read with errors that
name the file, the line and the column: PyYAML's own message names neither the file nor,
through Snakemake, the line."""

from __future__ import annotations

from pathlib import Path

import yaml

from .tables import decode_utf8


class YamlFileError(ValueError):
    """A YAML file that cannot be read; the message names it and where."""


def read_yaml(path: str | Path, what: str = "YAML file"):
    path = Path(path)
    text = decode_utf8(path.read_bytes(), f"{what} {path}", YamlFileError)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        context, start = getattr(err, "context", None), getattr(err, "context_mark", None)
        if context:  # e.g. "while parsing a flow mapping" that opened further up
            problem += f" ({context}" + (f" that opened on line {start.line + 1}" if start and start is not mark else "") + ")"
        raise YamlFileError(f"{what} {path}{where}: {problem}") from None
