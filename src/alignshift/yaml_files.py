"""YAML files a user writes (configs, recipes, banks, lock files), read with errors that
name the file, the line and the column: PyYAML's own message names neither the file nor,
through Snakemake, the line."""

from __future__ import annotations

from pathlib import Path

import yaml


class YamlFileError(ValueError):
    """A YAML file that cannot be read; the message names it and where."""


def read_yaml(path: str | Path, what: str = "YAML file"):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise YamlFileError(f"{what} {path}, line {line}: not UTF-8 ({err.reason}); save it as UTF-8") from None
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
