"""What goes into every result table so any number can be traced."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PACKAGES = ("alignshift", "snakemake", "torch", "transformers", "peft", "trl", "accelerate", "datasets",
            "huggingface-hub", "safetensors", "tokenizers", "bitsandbytes", "pandas", "numpy", "scipy", "pyarrow",
            "matplotlib", "geopandas")
METADATA_KEY = b"alignshift"


def library_versions() -> dict[str, str]:
    """The versions of the running process's environment (a job's own conda environment
    under --use-conda): Python, its prefix (`environment`) and the key libraries."""
    versions = {"python": sys.version.split()[0], "environment": sys.prefix}
    for pkg in PACKAGES:
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return versions


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def files_fingerprint(files) -> str:
    """Content hash of a set of files by name and content (the revision of local
    weights, a converted model, a local dataset)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(Path(f).name.encode())
        digest.update(sha256_file(Path(f)).encode())
    return digest.hexdigest()[:16]


def hub_revision(repo_id: str, revision: str | None, repo_type: str = "model") -> str:
    """The commit a hub repository resolves to; a local directory in the hub layout: its
    files' content hash."""
    local = Path(repo_id)
    if local.is_dir():
        return files_fingerprint(sorted(p for p in local.rglob("*") if p.is_file()))
    from huggingface_hub import HfApi

    info = HfApi().dataset_info if repo_type == "dataset" else HfApi().model_info
    return info(repo_id, revision=revision).sha


def stable_hash(obj) -> str:
    """Short hash of a JSON-able object (settings, templates) independent of key order."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def code_hash(code) -> str:
    """A short hash of the code a job runs, carried by its rule as a param so that
    Snakemake reruns the job when that code changes, and only then: a function's own
    source (a figure's), or a module's by its dotted name (a probe's `metrics`, its
    `items`): the module's file, or every .py file of a package's folder."""
    import importlib
    import inspect

    if callable(code):
        text = inspect.getsource(code)
    else:
        module = importlib.import_module(code)
        path = Path(module.__file__)
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        text = "".join(f"{f.relative_to(path.parent)}\n{f.read_text()}" for f in files)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def write_table(df: pd.DataFrame, path: str | Path, provenance: dict) -> None:
    """Write a parquet table atomically with its provenance in the file's metadata (text
    made UTF-8-safe: `tables.utf8_safe`)."""
    from .tables import utf8_safe_frame

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(utf8_safe_frame(df), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps({**provenance, "versions": library_versions()}, default=str).encode()
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table.replace_schema_metadata(meta), tmp)
    tmp.replace(path)


def read_provenance(path: str | Path) -> dict:
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(METADATA_KEY, b"{}"))


def write_study_config(config: dict, out: str | Path) -> None:
    """The study's config as the run resolved it (after --configfile / --config)."""
    import yaml

    Path(out).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def write_versions(versions: dict[str, str], out: str | Path) -> None:
    rows = ["package\tversion", *(f"{name}\t{version}" for name, version in versions.items())]
    Path(out).write_text("\n".join(rows) + "\n")
