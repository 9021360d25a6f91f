"""Model weights from the Hugging Face hub, used the way huggingface_hub users expect.

- The standard cache: downloads go where huggingface_hub puts them (`HF_HUB_CACHE`,
  by default `$HF_HOME/hub`, i.e. `~/.cache/huggingface/hub`), so weights a user
  already has are not fetched again and other tools reuse ours. Nothing here sets a
  cache directory.
- Offline (`HF_HUB_OFFLINE=1`): the snapshot already on disk is used and the hub is not
  asked anything; the commit is the snapshot folder's name (`snapshots/<commit>/`),
  found from the ref (`refs/<branch>`) when the revision is a branch.
- Online, weights already on disk: one metadata request (the commit and the file list);
  when every file wanted is in that commit's snapshot nothing is downloaded.
- One copy of the weights: a repository may hold the same weights twice (Mistral's
  `consolidated.safetensors` beside the transformers shards `model-*.safetensors`, an
  `original/` folder, pickle `.bin` files beside safetensors); only the files
  transformers loads are downloaded (`select_files`).
- Gated models (Llama, Gemma): huggingface_hub reads the token from `HF_TOKEN` (or
  `huggingface-cli login`); it is never logged or recorded.
- Pinned revisions: a model entry's `revision` wins when it is a commit; otherwise,
  with the study's `hub_lock` file, the commit locked there is used (alignshift.hub_lock:
  the fetch only reads the file; the commit it used goes into the manifest, and the
  workflow's `hub_lock` rule adds it to the lock file), so a study is re-run on the same
  weights until the lock entry is deleted.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

from ..hub_lock import COMMIT, HubLock, record

# everything but weights that a model directory needs (config, tokenizer, chat template)
META_PATTERNS = ("*.json", "*.model", "*.tiktoken", "*.txt", "*.jinja", "tokenizer*")
PICKLE_SUFFIXES = (".bin",)


def offline() -> bool:
    """Whether huggingface_hub's offline mode is on (read now, not at import)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    if any(f is not None for f in flags):
        return any((f or "").strip().upper() in ("1", "ON", "YES", "TRUE") for f in flags)
    return bool(constants.HF_HUB_OFFLINE)


def select_files(files: list[str], allow_pickle: bool = False) -> list[str]:
    """The files of a hub repository to download: the metadata, and one copy of the weights.

    Weights are the top-level `*.safetensors`; when the transformers names
    (`model.safetensors` or the shards `model-XXXXX-of-YYYYY.safetensors`) are there,
    only they are (a second copy such as `consolidated.safetensors` is what
    transformers never reads). Pickle `.bin` weights only when the entry opts in and
    the repository has no safetensors. Files in subfolders (`original/`, ...) are left.
    """
    top = [f for f in files if "/" not in f]
    weights = [f for f in top if f.endswith(".safetensors")]
    transformers_names = [f for f in weights if f == "model.safetensors" or re.fullmatch(r"model-\d+-of-\d+\.safetensors", f)]
    if transformers_names:
        weights = transformers_names
    if not weights and allow_pickle:
        weights = [f for f in top if f.endswith(PICKLE_SUFFIXES)]
        named = [f for f in weights if f.startswith("pytorch_model")]
        weights = named or weights
    meta = [f for f in top if any(fnmatch.fnmatch(f, p) for p in META_PATTERNS)
            and not f.endswith((".safetensors", *PICKLE_SUFFIXES))]
    return sorted(set(meta) | set(weights))


def repo_folder(repo_id: str, repo_type: str = "model") -> Path:
    """huggingface_hub's cache folder of a repository (`models--org--name`, `datasets--org--name`)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}"


def cached_commit(repo_id: str, revision: str | None, repo_type: str = "model") -> str | None:
    """The commit a revision points to in the local cache: a commit itself, or the one
    `refs/<revision>` records (None when the cache has neither)."""
    revision = revision or "main"
    folder = repo_folder(repo_id, repo_type)
    if COMMIT.match(revision):
        return revision if (folder / "snapshots" / revision).is_dir() else None
    ref = folder / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def cached_files(repo_id: str, commit: str, files: list[str]) -> Path | None:
    """The snapshot folder when every file is in it, else None."""
    from huggingface_hub import try_to_load_from_cache

    for name in files:
        hit = try_to_load_from_cache(repo_id, name, revision=commit)
        if not isinstance(hit, str):
            return None
    return repo_folder(repo_id) / "snapshots" / commit


def fetch_snapshot(repo_id: str, revision: str | None = None, allow_pickle: bool = False,
                   lock: str | Path | None = None) -> dict:
    """Bring a hub model into the standard cache; return `{path, revision (commit), files,
    hub}` (`hub`: the record the `hub_lock` rule merges into the lock file).

    Which commit: the entry's `revision` when it is a commit; else the lock file's commit
    for (id, revision); else what the revision (null: main) points to now.
    """
    from huggingface_hub import HfApi, snapshot_download

    pinned = HubLock(lock).get(repo_id, revision, "models")
    if offline():
        commit = pinned or cached_commit(repo_id, revision)
        folder = repo_folder(repo_id) / "snapshots" / commit if commit else None
        if folder is None or not folder.is_dir():
            raise FileNotFoundError(
                f"HF_HUB_OFFLINE is set and the cache ({repo_folder(repo_id)}) has no snapshot of "
                f"{repo_id} at {pinned or revision or 'main'}: fetch it once online, or unset HF_HUB_OFFLINE")
        return {"path": str(folder), "revision": commit, "hub": record(repo_id, revision, commit),
                "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())}
    info = HfApi().model_info(repo_id, revision=pinned or revision)
    commit = info.sha
    files = select_files([s.rfilename for s in info.siblings or []], allow_pickle)
    folder = cached_files(repo_id, commit, files)
    if folder is None:
        folder = Path(snapshot_download(repo_id, revision=commit, allow_patterns=files))
    return {"path": str(folder), "revision": commit, "hub": record(repo_id, revision, commit), "files": files}
