"""Append-only JSONL caches of per-input results (answers, log-probabilities).

A job that is killed mid-run leaves every finished chunk in its cache, so a rerun
redoes only the missing part. Each chunk is one append followed by fsync; a torn last
line (killed mid-write, a full disk) is skipped on reading, and the next append starts
on a new line after it, so no later record is lost with it. Records are written with
every non-ASCII character escaped (`json.dumps`' default): a record is one line
whatever the text (a line separator U+2028, a lone surrogate), read back exactly. Keys are content hashes of everything
a result depends on (model revision, probe spec, prompt, settings), so a changed
model or setting never reuses a stale result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable


class JsonlCache:
    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.values: dict[str, Any] = {}
        if self.path and self.path.exists():
            # split on newlines only: str.splitlines() also splits at \x1c-\x1e, \x85, U+2028
            for line in self.path.read_text(encoding="utf-8", errors="replace").split("\n"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.values[record["key"]] = record["value"]

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def put(self, items: Iterable[tuple[str, Any]]) -> None:
        items = list(items)
        self.values.update(items)
        if self.path and items:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            records = "".join(json.dumps({"key": k, "value": v}) + "\n" for k, v in items)
            with open(self.path, "a+b") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        records = "\n" + records  # after a torn line: start a new one
                fh.write(records.encode("ascii"))
                fh.flush()
                os.fsync(fh.fileno())

    def fill(self, items: Iterable[tuple[str, Any]], compute: Callable[..., list], *, chunk: int | None = None,
             sort_key: Callable[[tuple[str, Any]], Any] | None = None, reverse: bool = False) -> list:
        """The values of `items` ((key, input) pairs), in their order. Inputs whose key is
        not cached yet are computed (each key once, in `sort_key` order) by
        `compute(pairs, done, total)` -> one value per pair, in chunks of `chunk` pairs,
        and stored as each chunk finishes, so a killed job keeps every finished chunk."""
        items = list(items)
        todo = list({k: x for k, x in items if k not in self}.items())
        if sort_key is not None:
            todo.sort(key=sort_key, reverse=reverse)
        step = chunk or max(len(todo), 1)
        for start in range(0, len(todo), step):
            pairs = todo[start : start + step]
            self.put(zip((k for k, _ in pairs), compute(pairs, start + len(pairs), len(todo))))
        return [self.values[k] for k, _ in items]
