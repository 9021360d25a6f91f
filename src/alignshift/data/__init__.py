"""Datasets: each loader turns a source into one tidy table. Sources: files the project
ships (`shipped`), hub datasets downloaded at run time (`hub`), files a user supplies
(`supplied`), authors' released outputs downloaded at a pinned commit (`released`).

A loader validates what it reads and names the file, row and column of anything
wrong, so a bad row stops the `prepare_data` job before its output exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from ..hub_lock import record
from ..provenance import sha256_file
from .checks import DataError

LOADERS: dict[str, Callable[..., pd.DataFrame]] = {}
# loader -> whether an entry with these arguments downloads its source (the rest read local files)
DOWNLOADS: dict[str, Callable[[dict], bool]] = {}


def loader(name: str, downloads: Callable[[dict], bool] | None = None):
    """Register a loader; `downloads(args)` says whether an entry with these arguments
    fetches its source over the network (a hub dataset without a local `path`)."""
    def register(fn):
        LOADERS[name] = fn
        if downloads is not None:
            DOWNLOADS[name] = downloads
        return fn

    return register


def downloads(spec: dict) -> bool:
    """Whether preparing this dataset entry downloads its source. The workflow prepares
    such a dataset where the internet is (rule download_data, a local rule: the login
    node under --profile profiles/slurm, whose compute nodes may have none)."""
    check = DOWNLOADS.get(spec.get("loader"))
    return bool(check and check({k: v for k, v in spec.items() if k != "loader"}))


def prepare(spec: dict, lock: str | Path | None = None) -> pd.DataFrame:
    """Run the loader a dataset entry of the config names. A hub dataset is read at the
    commit `lock` (the study's `hub_lock` file) holds for it, else at its revision's
    current commit; `df.attrs["hub"]` records which (alignshift.hub_lock)."""
    name = spec["loader"]
    if name not in LOADERS:
        raise DataError(f"unknown loader {name!r}; known: {sorted(LOADERS)}")
    # `manual` marks a dataset provided by hand for the workflow (planning); no loader reads it
    args = {k: v for k, v in spec.items() if k not in ("loader", "manual")}
    repo = hub.hub_repo(spec)
    if repo:
        args["revision"] = hub.hub_commit(repo, spec.get("revision"), lock)
    df = LOADERS[name](**args)
    if df.empty:
        raise DataError(f"{args.get('path', name)}: no rows")
    if repo:
        df.attrs["hub"] = record(repo, spec.get("revision"), args["revision"])
    return df


def source_revision(spec: dict) -> str:
    """The revision of a dataset source: the content hash of a local file."""
    path = spec.get("path")
    if path and Path(path).is_file():
        return sha256_file(Path(path))[:16]
    return str(spec.get("revision", "unknown"))



# the loaders register themselves on import
from . import hub, released, shipped, supplied  # noqa: E402,F401
