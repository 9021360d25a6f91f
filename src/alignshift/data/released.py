"""Authors' released outputs, downloaded at run time at a pinned commit (never shipped).

Bladon & Bent (2026) released their per-prompt results (recozers/LLM-Bias,
`country_bias_pilot/results/<folder>/<model>_raw.csv`, no licence: read at run time,
never copied into the project). `released_scores` turns one model's files (its real-
country folder per language and its fictional-control folder per language) into the
`country_pairs` probe's score table, one row per item, so the same analysis that reads
a real run reads them (alignshift.probes.country_pairs.metrics.item_scores).

Format of a released file (one row per unordered pair, scenario and question):
`country_1, country_2, scenario, scenario_type, question, diff_fwd, diff_rev, bias,
compliance`. `country_1` precedes `country_2` in the authors' country list;
`question` is `justified` ("which acted more justifiably?") or `unjustified` ("less");
`diff_fwd` is the log-odds of choosing country_1 over country_2 when country_1 fills
the scenario's first role, averaged over both option orders, `diff_rev` the same with
country_2 in the first role, `bias` = (diff_fwd + diff_rev) / 2 (> 0: country_1 is
picked for the question asked; not sign-flipped for `unjustified`), `compliance` the
mean P(A) + P(B) over the four prompts. One row maps to one project item: x =
country_1, y = country_2, question justified -> more, unjustified -> less,
log_odds = bias.

Also here: `llm_bias_scenarios`, a loader for a user-supplied copy of the authors'
scenario bank in its released format (`scenarios.py`, `scenarios_fr.py`,
`scenarios_zh.py`), read with `ast` (never executed).
"""

from __future__ import annotations

import ast
import hashlib
import logging
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from . import loader
from .checks import DataError, require_columns, require_values
from .released_checksums import COMMIT, SHA256

log = logging.getLogger("alignshift")

DEFAULT_BASE = "https://raw.githubusercontent.com/recozers/LLM-Bias/{commit}/country_bias_pilot/results"
COLUMNS = ["country_1", "country_2", "scenario", "scenario_type", "question", "diff_fwd", "diff_rev", "bias",
           "compliance"]
QUESTIONS = {"justified": "more", "unjustified": "less"}
# the paper's folders: real countries per prompt language, and the fictional control
DEFAULT_FOLDERS = {"en": "gpu_bias", "fr": "gpu_bias_fr", "zh": "gpu_bias_zh"}
DEFAULT_FICTIONAL = {"en": "gpu_bias_fictional", "fr": "gpu_bias_fictional_fr", "zh": "gpu_bias_fictional_zh"}


def settings(source: dict | None) -> dict:
    """The study's `released` section with its defaults."""
    source = dict(source or {})
    return {"base": source.get("base") or DEFAULT_BASE, "commit": source.get("commit") or COMMIT,
            "folders": source.get("folders") or DEFAULT_FOLDERS,
            "fictional": DEFAULT_FICTIONAL if source.get("fictional") is None else (source.get("fictional") or {}),
            "sha256": source.get("sha256"), "cache_dir": source.get("cache_dir") or "resources/released"}


def model_files(entry: dict, source: dict) -> list[dict]:
    """The released files of one model: (language, fictional, path under the base).

    `entry` is the model's `released` field: `key` (the authors' file name stem, e.g.
    `qwen2.5-7b-inst`), optional `folders` (per language; e.g. GLM-4 chat's prefill
    runs) and `fictional` (per language) replacing the study's.
    """
    if not entry.get("key"):
        raise DataError("a released model needs `released.key` (the authors' file name stem)")
    out = []
    for fictional, folders in ((False, {**source["folders"], **(entry.get("folders") or {})}),
                               (True, {**source["fictional"], **(entry.get("fictional") or {})})):
        for language, folder in folders.items():
            out.append({"language": language, "fictional": fictional, "path": f"{folder}/{entry['key']}_raw.csv"})
    return out


def expected_sha256(source: dict, path: str) -> str | None:
    """The checksum a file must have: the study's `sha256` map if given, else the one
    recorded in the project for the pinned commit (None: unknown, only recorded)."""
    if source.get("sha256") is not None:
        return source["sha256"].get(path)
    known = SHA256.get(source["commit"], {}).get(path)
    return known[0] if known else None


def _url(base: str, commit: str, path: str) -> str:
    base = base.format(commit=commit).rstrip("/")
    return f"{base}/{path}"


def download(source: dict, path: str) -> tuple[Path, str]:
    """Fetch one released file into the cache (`cache_dir/<commit>/<path>`), once, and
    check its sha256. The base is a URL (https://, file://) or a local directory."""
    target = Path(source["cache_dir"], source["commit"], path)
    expected = expected_sha256(source, path)
    if not (target.exists() and (expected is None or _sha256(target) == expected)):
        url = _url(source["base"], source["commit"], path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        if urllib.parse.urlparse(url).scheme in ("http", "https", "file"):
            with urllib.request.urlopen(url, timeout=120) as response, open(partial, "wb") as fh:
                shutil.copyfileobj(response, fh)
        else:
            if not Path(url).is_file():
                raise DataError(f"released file {url} does not exist (released.base: {source['base']})")
            shutil.copyfile(url, partial)
        partial.replace(target)
    digest = _sha256(target)
    if expected is not None and digest != expected:
        target.unlink()
        raise DataError(f"{path} at {source['commit']}: sha256 {digest}, expected {expected}; the download was "
                        "removed (a different commit, or a changed file?)")
    if expected is None:
        log.warning("%s: no recorded sha256 for commit %s; recording %s", path, source["commit"], digest)
    return target, digest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_released(path: str | Path, model: str, language: str, fictional: bool, probe: str = "country_pairs"
                  ) -> pd.DataFrame:
    """One released file as item rows of the probe's score table."""
    df = pd.read_csv(path)
    require_columns(df, COLUMNS, str(path))
    require_values(df, "question", set(QUESTIONS), str(path))
    numbers = df[["diff_fwd", "diff_rev", "bias", "compliance"]].astype(float)
    if numbers.isna().any().any():
        row = int(np.flatnonzero(numbers.isna().any(axis=1).to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: a missing number")
    bad = pd.Series(~np.isclose(numbers["bias"], (numbers["diff_fwd"] + numbers["diff_rev"]) / 2, atol=1e-6))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: bias is not (diff_fwd + diff_rev) / 2")
    question = df["question"].map(QUESTIONS)
    out = pd.DataFrame({
        "model": model, "probe": probe,
        "item": df["scenario"] + "|" + df["country_1"] + "|" + df["country_2"] + "|" + language + "|" + question,
        "x": df["country_1"], "y": df["country_2"], "scenario": df["scenario"], "type": df["scenario_type"],
        "language": language, "question": question, "fictional": fictional,
        "log_odds": numbers["bias"], "compliance": numbers["compliance"],
        "diff_fwd": numbers["diff_fwd"], "diff_rev": numbers["diff_rev"],
    })
    duplicated = out["item"].duplicated()
    if duplicated.any():
        raise DataError(f"{path}: row {int(np.flatnonzero(duplicated.to_numpy())[0]) + 2}: a repeated "
                        "(pair, scenario, question)")
    return out


def released_scores(model: str, entry: dict, source: dict | None, probe: str = "country_pairs"
                    ) -> tuple[pd.DataFrame, dict]:
    """A model's score table from its released files, with provenance (commit, URL and
    sha256 of every file)."""
    source = settings(source)
    frames, files = [], []
    for f in model_files(entry, source):
        local, digest = download(source, f["path"])
        frames.append(read_released(local, model, f["language"], f["fictional"], probe))
        files.append({**f, "url": _url(source["base"], source["commit"], f["path"]), "sha256": digest,
                      "rows": len(frames[-1])})
    table = pd.concat(frames, ignore_index=True)
    provenance = {"model": model, "probe": probe, "source": "released", "commit": source["commit"],
                  "released_key": entry["key"], "files": files}
    return table, provenance


# ---- a user-supplied copy of the authors' scenario bank (released format) ----

LANGUAGE_FILES = {"scenarios.py": "en", "scenarios_fr.py": "fr", "scenarios_zh.py": "zh"}
SLOT_A, SLOT_B = "[COUNTRY_A]", "[COUNTRY_B]"


def _string_lists(tree: ast.Module) -> dict[str, list[str]]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.List) and value.elts and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts):
                out[node.targets[0].id] = [e.value for e in value.elts]
    return out


def _dict_of_names(tree: ast.Module, name: str) -> dict[str, str]:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == name and isinstance(node.value, ast.Dict)):
            return {k.value: v.id for k, v in zip(node.value.keys, node.value.values)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Name)}
    return {}


def _country_names(tree: ast.Module) -> dict[str, dict[str, str]]:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "COUNTRIES_BY_LANG"):
            return ast.literal_eval(node.value)
    return {}


@loader("llm_bias_scenarios")
def load_llm_bias_scenarios(path: str, countries: list[str] | None = None, fictional: list[str] | None = None,
                            templates: str | None = None) -> pd.DataFrame:
    """The authors' scenario bank from a directory holding their `scenarios.py`
    (English), `scenarios_fr.py`, `scenarios_zh.py`, as the long table of the
    `scenarios` loader (kind, key, type, language, text with {a} and {b}).

    Each file defines lists of scenario texts (`[COUNTRY_A]`, `[COUNTRY_B]`) and the
    dicts `AGG_SCENARIOS` and `DEF_SCENARIOS` (type -> list name); ids are
    `<type>_v<i>` and `<type>_def_v<i>` (i from 1), the ids of the released results.
    Country display names come from `COUNTRIES_BY_LANG` in `scenarios.py` (canonical
    name -> name per language); fictional names are the same in every language, as
    the authors used them. The question templates (kind=template) are taken from the
    shipped bank `templates` (default `data/country_pairs/scenarios.yaml`): the
    paper's prompt protocol takes its wording from the probe spec anyway.
    """
    from .shipped import load_scenarios

    root = Path(path)
    trees = {}
    for name, language in LANGUAGE_FILES.items():
        file = root / name
        if file.exists():
            try:
                trees[language] = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
            except SyntaxError as exc:
                raise DataError(f"{file}: not valid Python: {exc}") from exc
    if "en" not in trees:
        raise DataError(f"{root}: no scenarios.py (the English scenario bank)")
    names = _country_names(trees["en"])
    countries = countries or ["USA", "France", "China", "Japan", "Venezuela", "Canada", "Australia", "Indonesia"]
    fictional = fictional or ["Terluna", "Voskara", "Drethia", "Melvoni", "Bretherland", "Zhaodong", "Al-Nuriyah",
                              "Korvachev"]
    rows = []
    for language in trees:
        for cid in countries:
            rows.append({"kind": "country", "key": cid, "type": "", "language": language,
                         "text": (names.get(language) or {}).get(cid, cid)})
        for cid in fictional:
            rows.append({"kind": "fictional", "key": cid, "type": "", "language": language, "text": cid})
    shipped = load_scenarios(templates or "data/country_pairs/scenarios.yaml")
    for t in shipped[(shipped.kind == "template") & shipped.language.isin(list(trees))].itertuples():
        rows.append({"kind": "template", "key": t.key, "type": "", "language": t.language, "text": t.text})
    ids = {}
    for language, tree in trees.items():
        lists = _string_lists(tree)
        found = []
        for group, suffix in (("AGG_SCENARIOS", ""), ("DEF_SCENARIOS", "_def")):
            for kind, list_name in _dict_of_names(tree, group).items():
                if list_name not in lists:
                    raise DataError(f"{root}/{language}: {group}[{kind!r}] names {list_name}, not a list of strings")
                for i, text in enumerate(lists[list_name], start=1):
                    sid = f"{kind}{suffix}_v{i}"
                    if SLOT_A not in text or SLOT_B not in text:
                        raise DataError(f"{root}: {language} scenario {sid} lacks {SLOT_A} or {SLOT_B}")
                    escaped = text.replace("{", "{{").replace("}", "}}")
                    rows.append({"kind": "scenario", "key": sid, "type": kind, "language": language,
                                 "text": escaped.replace(SLOT_A, "{a}").replace(SLOT_B, "{b}")})
                    found.append(sid)
        if not found:
            raise DataError(f"{root}: the {language} file defines no AGG_SCENARIOS / DEF_SCENARIOS")
        ids[language] = found
    for language, found in ids.items():
        if sorted(found) != sorted(ids["en"]):
            raise DataError(f"{root}: the {language} scenario ids differ from the English ones")
    return pd.DataFrame(rows)

