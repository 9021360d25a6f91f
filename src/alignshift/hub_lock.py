"""A study's hub lock file (config key `hub_lock`): the commit of every hub model and hub
dataset the study uses, so that a re-run, on any machine, gets the same weights and data.

    models:
      mistralai/Mistral-7B-v0.3: 0d4b76e1efeb5eb6f6b5e757c79870472e04bd3a
      some-org/model@v2: <commit>        # an entry whose `revision` is a branch or tag
    datasets:
      Anthropic/llm_global_opinions: <commit>

Jobs only read it. A fetch (models/hub.py) or a hub dataset's preparation (data/hub.py)
uses the commit locked for its (repository, revision), else resolves the revision
(null: main), and records what it used in its own declared output: `hub: {repo,
revision, commit}` in the model's manifest or the prepared table's provenance. One local
rule (`hub_lock`, workflow/rules/hub_lock.smk, a target of `all`) merges those records
into the lock file: the only writer, after every job it reads has finished, so fetches
running side by side never write one file. An entry whose `revision` is a commit is
pinned by the config itself and is not recorded.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .yaml_files import read_yaml

COMMIT = re.compile(r"^[0-9a-f]{40}$")
KINDS = ("models", "datasets")
HEADER = ("# Hub commits of this study's models and datasets, written by the workflow's hub_lock rule\n"
          "# from what each fetch and data preparation resolved, and followed by every later run\n"
          "# (config/README.md, `hub_lock`). Commit this file to pin them. To move one entry to the\n"
          "# newest commit of its revision: delete the entry and the output that recorded it (the\n"
          "# model's resources/models/<name>/manifest.json, the dataset's results/data/<name>.parquet).\n")


class LockError(ValueError):
    """A lock file that cannot be read, or an output that disagrees with it."""


def is_commit(revision: str | None) -> bool:
    return bool(revision) and bool(COMMIT.match(str(revision)))


def key(repo: str, revision: str | None) -> str:
    """The entry of (repository, revision): the id for main, `id@revision` otherwise."""
    return repo if revision in (None, "main") else f"{repo}@{revision}"


def record(repo: str, revision: str | None, commit: str) -> dict:
    """What a job writes into its output about the hub commit it used."""
    return {"repo": repo, "revision": revision, "commit": commit}


class HubLock:
    """The lock file at `path` (None: no lock; every lookup misses)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None

    def read(self) -> dict[str, dict[str, str]]:
        if not self.path or not self.path.exists():
            return {kind: {} for kind in KINDS}
        data = read_yaml(self.path, "hub lock file") or {}
        if not isinstance(data, dict):
            raise LockError(f"{self.path}: expected a mapping with `models:` and `datasets:`")
        if data and all(isinstance(v, str) for v in data.values()):
            data = {"models": data}  # the first format: models only, `id: commit` at the top
        unknown = set(data) - set(KINDS)
        if unknown:
            raise LockError(f"{self.path}: unknown section {sorted(unknown)[0]!r}; expected {list(KINDS)}")
        return {kind: {str(k): str(v) for k, v in (data.get(kind) or {}).items()} for kind in KINDS}

    def get(self, repo: str, revision: str | None, kind: str = "models") -> str | None:
        """The commit to use for (repo, revision): the revision itself when it is a
        commit, else the locked one (None: resolve the revision anew)."""
        if is_commit(revision):
            return revision
        return self.read()[kind].get(key(repo, revision))

    def merge(self, records: dict[str, list[tuple[str, dict]]]) -> dict[str, dict[str, str]]:
        """Add what jobs resolved (`kind -> [(where it was recorded, record)]`) to the
        lock file; entries already there are kept. An output that used another commit
        than the one locked for it stops the merge, naming both. Returns the lock."""
        lock = self.read()
        for kind, items in records.items():
            for where, rec in items:
                if not rec or is_commit(rec.get("revision")):
                    continue
                entry, commit = key(rec["repo"], rec.get("revision")), rec["commit"]
                locked = lock[kind].get(entry)
                if locked is not None and locked != commit:
                    raise LockError(
                        f"{where} used {entry} at {commit}, but {self.path} locks it at {locked}: delete "
                        f"{where} and run again to use the locked commit, or delete the entry `{entry}` "
                        f"from {self.path} to lock {commit}")
                lock[kind][entry] = commit
        text = HEADER + yaml.safe_dump({kind: dict(sorted(lock[kind].items())) for kind in KINDS}, sort_keys=False)
        # written even when unchanged: the rule's output must be newer than what it read
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(self.path)
        return lock
