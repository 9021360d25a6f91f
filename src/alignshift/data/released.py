"""Authors' released outputs, downloaded at run time at a pinned commit (never shipped).

A study may take a model's score tables from the per-model outputs its authors
released instead of evaluating the model: the model's config entry has a `released`
field naming its files per probe, the study's top-level `released` section says where
they are (`base`, `repo`, `commit`) and in which `format`, and the rule
`released_scores` (workflow/rules/released.smk) converts each file, by the probe's
converter, into the probe's score table, `results/scores/<model>/<probe>.parquet`, with
the same columns an evaluation writes, so the same analysis, tables and figures read it.

Every file is downloaded once into `cache_dir/<repo>/<commit>/<path>` and its sha256
is checked against the one recorded in the project for that commit
(`released_sha256/<owner>+<name>@<commit>.txt`, checksums only) or given by the study
(`sha256`); a mismatch removes the download and stops the job. `base` is a URL
(https://, file://) or a local directory holding the repository's files.

Formats: `unintended_impacts`, SALT-NLP/unintended-impacts-of-alignment (Ryan, Held,
Yang 2024; MIT), pinned at 98b5bca; `llm_bias`, recozers/LLM-Bias (Bladon & Bent 2026; no
licence: read at run time, never copied), pinned at 072e715. How a format's files become a
probe's rows is the probe's own (`probes/<name>/released.py`, its `CONVERTERS`): this
module knows no probe.

Item ids are the ids the project's own loaders give the same rows (GlobalOpinionsQA
`q0000`.., AskReddit `ar000`.., TyDiQA ids), so released and evaluated tables pair.
"""

from __future__ import annotations

import ast
import logging
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from . import loader
from ..provenance import sha256_file
from .checks import DataError

log = logging.getLogger("alignshift")

LLM_BIAS_REPO = "recozers/LLM-Bias"
LLM_BIAS_COMMIT = "072e715fe48c6ad974f9bde4062255a75c3d34c0"
SALT_REPO = "SALT-NLP/unintended-impacts-of-alignment"
SALT_COMMIT = "98b5bcafaca1c202c955d332c5c6bf4338302f77"
DEFAULT_SOURCE = {"repo": SALT_REPO, "commit": SALT_COMMIT, "base": "https://raw.githubusercontent.com/{repo}/{commit}",
                  "format": "unintended_impacts", "sha256": None, "cache_dir": "resources/released"}
CHECKSUMS = Path(__file__).parent / "released_sha256"


def settings(source: dict | None) -> dict:
    """The study's `released` section with its defaults."""
    out = dict(DEFAULT_SOURCE)
    out.update({k: v for k, v in (source or {}).items() if v is not None or k == "sha256"})
    return out


# the keys of a source (the study's `released`, or a released_list/_orders dataset entry)
SOURCE_KEYS = ("repo", "commit", "base", "sha256", "cache_dir")


def dataset_spec(spec: dict, study_source: dict | None) -> dict:
    """A released_list / released_orders dataset entry with the study's `released` source
    filled in for every source key it does not set, so that a local copy of the
    repository is one setting, `released.base`. An entry that names another `repo` than
    the study's keeps its own source (and the defaults for the keys it does not set)."""
    if spec.get("loader") not in ("released_list", "released_orders") or not study_source:
        return spec
    if spec.get("repo") not in (None, study_source.get("repo", DEFAULT_SOURCE["repo"])):
        return spec
    return {**{k: study_source[k] for k in SOURCE_KEYS if k in study_source}, **spec}


def remote(base: str) -> bool:
    """Whether a source's `base` is on the internet (http, https), not on this machine
    (a directory, a file:// URL)."""
    return urllib.parse.urlparse(str(base)).scheme in ("http", "https")


def read_checksums(file: str | Path) -> dict[str, str]:
    """path -> sha256 of a checksum list: lines `<sha256> <size> <path>` (the recorded
    files' format) or `<sha256>  <path>` (sha256sum's), `#` comments."""
    out = {}
    for n, line in enumerate(Path(file).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1].isdigit():
            digest, path = parts[0], parts[2]
        elif len(parts) >= 2:
            digest, path = parts[0], line.split(None, 1)[1].lstrip("*")
        else:
            raise DataError(f"{file}: line {n}: not '<sha256> <path>' or '<sha256> <size> <path>'")
        if len(digest) != 64:
            raise DataError(f"{file}: line {n}: {digest!r} is not a sha256")
        out[path.strip()] = digest.lower()
    return out


def known_sha256(repo: str, commit: str) -> dict[str, str]:
    """path -> sha256 recorded in the project for a repository's commit ({} if none)."""
    file = CHECKSUMS / f"{repo.replace('/', '+')}@{commit}.txt"
    return read_checksums(file) if file.exists() else {}


def expected_sha256(source: dict, path: str) -> str | None:
    """The sha256 a file must have: from the source's `sha256` (a map, or a checksum
    list's file, e.g. a local copy's own list), else recorded in the project."""
    given = source.get("sha256")
    if isinstance(given, str):
        if not Path(given).is_file():
            raise DataError(f"sha256: checksum list {given} does not exist")
        return read_checksums(given).get(path)
    if given is not None:
        return given.get(path)
    return known_sha256(source["repo"], source["commit"]).get(path)


def url(source: dict, path: str) -> str:
    base = source["base"].format(repo=source["repo"], commit=source["commit"]).rstrip("/")
    if urllib.parse.urlparse(base).scheme in ("http", "https", "file"):
        return f"{base}/{urllib.parse.quote(path, safe='/')}"  # TyDiQA folders have braces
    return f"{base}/{path}"


def download(source: dict, path: str) -> tuple[Path, str, str | None]:
    """One released file in the cache, downloaded once, its sha256 checked: the local
    copy read, its sha256, and where it was downloaded from (None: a verified copy
    already in the cache)."""
    target = Path(source["cache_dir"], source["repo"].replace("/", "+"), source["commit"], path)
    expected = expected_sha256(source, path)
    where = None
    # a cached copy is hashed once: checked here, and that digest returned
    digest = sha256_file(target) if target.exists() else None
    if digest is None or (expected is not None and digest != expected):
        where = url(source, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # one partial file per process: two jobs may fetch a file they share (TyDiQA's
        # gold answers) at once; each renames its own whole copy into place
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        if urllib.parse.urlparse(where).scheme in ("http", "https", "file"):
            try:
                with urllib.request.urlopen(where, timeout=120) as response, open(partial, "wb") as fh:
                    shutil.copyfileobj(response, fh)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                raise DataError(f"released file {where}: {exc}") from exc
        else:
            if not Path(where).is_file():
                raise DataError(f"released file {where} does not exist (released.base: {source['base']})")
            shutil.copyfile(where, partial)
        partial.replace(target)
        digest = sha256_file(target)
    if expected is not None and digest != expected:
        target.unlink()
        raise DataError(f"{path} at {source['repo']}@{source['commit']}: sha256 {digest}, expected {expected}; "
                        "the download was removed (another commit, or a changed file?)")
    if expected is None:
        log.warning("%s: no recorded sha256 for %s@%s; recording %s", path, source["repo"], source["commit"], digest)
    return target, digest, where


# ---- converters: one released file (or folder) -> one probe's score rows ----

@dataclass(frozen=True)
class Converter:
    """A probe's reading of one released format (in the probe's folder, `released.py`,
    its `CONVERTERS`): `convert(fetch, entry, spec, tables, source)` -> the probe's score
    rows, `fetch(path)` giving a released file's local path and sha256; `needs`: the
    study's prepared datasets it reads (e.g. `countries`)."""

    format: str
    convert: Callable[..., pd.DataFrame]
    needs: tuple[str, ...] = ()


def _file_entry(entry) -> dict:
    return {"path": entry} if isinstance(entry, str) else dict(entry)


def released_scores(model: str, probe: str, entry: dict | None, source: dict | None, spec: dict,
                    tables: dict[str, pd.DataFrame] | None, converters: dict[str, Converter]
                    ) -> tuple[pd.DataFrame, dict]:
    """A model's score table for one probe from its released files, with provenance
    (repository, commit, and of every file the copy read, its sha256 and the URL it was
    downloaded from, null for a verified cached copy), by the probe's converter of the
    source's format (`converters`: format -> the probe's). A model without a released
    file for the probe gets an empty table (as a reward model gets for a probe without
    a reward path)."""
    source = settings(source)
    files = []

    def fetch(path: str):
        local, digest, origin = download(source, path)
        files.append({"path": path, "read": str(local.resolve()), "sha256": digest, "downloaded_from": origin})
        return local, digest

    provenance = {"model": model, "probe": probe, "source": "released", "repo": source["repo"],
                  "commit": source["commit"], "format": source["format"], "files": files}
    file_entry = ((entry or {}).get("files") or {}).get(probe)
    if file_entry is None:
        return pd.DataFrame(), provenance
    converter = converters.get(source["format"])
    if converter is None:
        raise DataError(f"probe {probe!r} has no converter for the released format {source['format']!r}; it reads "
                        f"{sorted(converters)}")
    table = converter.convert(fetch, _file_entry(file_entry), spec, tables or {}, source)
    if table.empty:
        raise DataError(f"{model}: the released files for {probe} gave no rows")
    table.insert(0, "probe", probe)
    table.insert(0, "model", model)
    return table.reset_index(drop=True), provenance


# ---- datasets from the released repository (lists in the authors' analysis code) ----

def _python_lists(path: Path) -> dict[str, list]:
    """Top-level `name = [literal, ...]` assignments of a Python file, read with ast
    (never executed)."""
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.List):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return out


def _released_lists(file: str, source: dict) -> tuple[dict[str, list], str]:
    source = settings(source)
    path, digest, _ = download(source, file)
    return _python_lists(path), f"{source['repo']}@{source['commit']}:{file} sha256:{digest}"


@loader("released_list", downloads=lambda args: remote(settings(args)["base"]))
def load_released_list(file: str, name: str, column: str = "country", **source) -> pd.DataFrame:
    """One list of a Python file of a released repository (e.g. the 181 countries of the
    authors' `code/analysis/ask-reddit-correlation.py`, `countries_filter`), as a
    one-column table; downloaded and checked as the released outputs are."""
    lists, revision = _released_lists(file, source)
    if name not in lists:
        raise DataError(f"{file}: no list {name!r}; lists: {sorted(lists)}")
    out = pd.DataFrame({column: [str(v) for v in lists[name]]})
    out.attrs["revision"] = revision
    return out


@loader("released_orders", downloads=lambda args: remote(settings(args)["base"]))
def load_released_orders(file: str, lists: dict, **source) -> pd.DataFrame:
    """Reference orders (e.g. Gallup's US favourability rankings) given as Python lists
    in a released file: `lists` maps an order's name (e.g. 2023) to the list's
    variable; one row per (order, rank, country), rank 1 = first in the list."""
    found, revision = _released_lists(file, source)
    rows = []
    for order, name in lists.items():
        if name not in found:
            raise DataError(f"{file}: no list {name!r}; lists: {sorted(found)}")
        rows += [{"order": str(order), "rank": i + 1, "country": str(c)} for i, c in enumerate(found[name])]
    out = pd.DataFrame(rows)
    out.attrs["revision"] = revision
    return out


# ---- the geopolitics paper's items, from its released repository ----

LLM_BIAS_BANK = {"en": "scenarios.py", "fr": "scenarios_fr.py", "zh": "scenarios_zh.py"}
LLM_BIAS_BANK_BASE = "https://raw.githubusercontent.com/{repo}/{commit}/country_bias_pilot"


@loader("llm_bias_bank", downloads=lambda args: remote(args.get("base") or LLM_BIAS_BANK_BASE))
def load_llm_bias_bank(templates: str, repo: str = LLM_BIAS_REPO, commit: str = LLM_BIAS_COMMIT,
                       base: str = LLM_BIAS_BANK_BASE, sha256: dict | str | None = None,
                       cache_dir: str = "resources/released", files: dict[str, str] | None = None,
                       code: str = "gpu_bias.py") -> pd.DataFrame:
    """The items Bladon & Bent's released runs asked, as the `scenarios` table: their
    scenario bank (`scenarios.py`, `scenarios_fr.py`, `scenarios_zh.py`: every scenario's
    text per language, the countries' names per language) and their run script's
    country lists (`COUNTRIES`, `FICTIONAL_COUNTRIES` of `gpu_bias.py`: which countries,
    and in which order, so that the pairs are the released rows' country_1, country_2),
    downloaded from the released repository at `commit` and checked as the released
    outputs are (`sha256`: a map or a checksum list; null: the checksums recorded in the
    project), read with `ast`, never executed; `templates`: the question templates'
    bank (see supplied.llm_bias_bank). With the probe's `protocol: paper` a
    model is asked exactly the prompts the released rows were scored on (every pair,
    scenario, language and question; both role orders and both option orders). The
    authors' text has no licence: it is downloaded at run time, never shipped."""
    from .supplied import llm_bias_bank

    source = {"repo": repo, "commit": commit, "base": base, "sha256": sha256, "cache_dir": cache_dir}
    local, digests = {}, {}
    for language, file in (files or LLM_BIAS_BANK).items():
        local[language], digests[file], _ = download(source, file)
    if "en" not in local:
        raise DataError(f"llm_bias_bank: files {sorted(local)} has no en (the English bank, whose COUNTRIES_BY_LANG "
                        "names the countries per language)")
    code_path, digests[code], _ = download(source, code)
    lists = _python_lists(code_path)
    missing = [name for name in ("COUNTRIES", "FICTIONAL_COUNTRIES") if name not in lists]
    if missing:
        raise DataError(f"{code} at {repo}@{commit}: no list {missing[0]}; lists: {sorted(lists)}")
    out = llm_bias_bank(local, [str(c) for c in lists["COUNTRIES"]], [str(c) for c in lists["FICTIONAL_COUNTRIES"]],
                        templates, f"{repo}@{commit}")
    out.attrs["revision"] = f"{repo}@{commit}: " + ", ".join(f"{f} sha256:{d}" for f, d in digests.items())
    return out
