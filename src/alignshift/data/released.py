"""Authors' released outputs, downloaded at run time at a pinned commit (never shipped).

A study may take a model's score tables from the per-model outputs its authors
released instead of evaluating the model: the model's config entry has a `released`
field naming its files per probe, the study's top-level `released` section says where
they are (`base`, `repo`, `commit`) and in which `format`, and the rule
`released_scores` (workflow/rules/released.smk) converts each file into the probe's
score table, `results/scores/<model>/<probe>.parquet`, with the same columns an
evaluation writes, so the same analysis, tables and figures read it.

Every file is downloaded once into `cache_dir/<repo>/<commit>/<path>` and its sha256
is checked against the one recorded in the project for that commit
(`released_sha256/<owner>+<name>@<commit>.txt`, checksums only) or given by the study
(`sha256`); a mismatch removes the download and stops the job. `base` is a URL
(https://, file://) or a local directory holding the repository's files.

Format `unintended_impacts`: SALT-NLP/unintended-impacts-of-alignment (Ryan, Held,
Yang 2024; MIT), pinned at 98b5bca. One converter per probe:

- `opinions` <- `outputs/globalopinionsqa/<stem>.csv` (2556 rows in dataset order:
  question, options, probs = the model's option probabilities, exp(-mean NLL)
  normalised, then one column per country = 1 - Jensen-Shannon distance (natural
  log) or -1.0 where the country was not asked). Rows: one per (question, option) with
  logprob_mean = logprob_sum = log(prob), and the released similarities (JSON) of the
  spec's `countries`; questions not asked in all of them are dropped (-> 245).
- `country_rank` <- `outputs/ask-reddit-perplexity-testing/<stem>-reformatted.csv`
  (554 questions x 254 countries: mean NLL of the country's tokens) or, for the reward
  model, `outputs/ask-reddit-reward-testing/<stem>-reformatted.csv` (rewards). Rows:
  (question, country) with logprob_mean = -NLL (logprob_sum, n_tokens unknown: NaN) or
  `reward`, and the question's `sentiment`; only the countries of the study's
  `countries` dataset are kept (the ranking is among them).
- `where_from` <- `outputs/reward-testing/where_from_<stem>.csv` (country, reward).
- `dialect_intent` <- `outputs/md3-game/<stem>-no-answers.csv`: `correct` =
  `generated_correct_answer_num`, `answer` = `generated_answer`.
- `extractive_qa` <- `outputs/tydiqa-goldp/{<stem>}/greedy/1-shot/<language>.json`
  ({id: raw generation}) with the gold answers of
  `data/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-<language>.json`; the answer is
  the generation cut at its first blank line (the authors' postprocessing), scored by
  the probe's own EM and F1; CFMatch then runs as for a real run (rule cfmatch).

Format `llm_bias`: recozers/LLM-Bias (Bladon & Bent 2026; no licence: read at run time,
never copied), pinned at 072e715, `country_bias_pilot/results/<folder>/<key>_raw.csv`:
one row per unordered pair, scenario and question, `country_1, country_2, scenario,
scenario_type, question, diff_fwd, diff_rev, bias, compliance`. `country_1` precedes
`country_2` in the authors' country list; `question` is `justified` ("which acted more
justifiably?") or `unjustified` ("less"); `diff_fwd` is the log-odds of choosing
country_1 over country_2 when country_1 fills the scenario's first role, averaged over
both option orders, `diff_rev` the same with country_2 first, `bias` = (diff_fwd +
diff_rev) / 2 (> 0: country_1 is picked for the question asked; not sign-flipped for
`unjustified`), `compliance` the mean P(A) + P(B) over the four prompts. One row is one
`country_pairs` item: x = country_1, y = country_2, justified -> more, unjustified ->
less, log_odds = bias. A model's file entry is `{key, folders, fictional}`: the authors'
file stem, and per-language folders (e.g. GLM-4 chat's prefill runs) replacing the
study's `released.folders` / `released.fictional`.

Item ids are the ids the project's own loaders give the same rows (GlobalOpinionsQA
`q0000`.., AskReddit `ar000`.., TyDiQA ids), so released and evaluated tables pair.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import shutil
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import loader
from .checks import DataError, read_csv_input, require_columns, require_values

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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(source: dict, path: str) -> tuple[Path, str]:
    """One released file in the cache, downloaded once, its sha256 checked."""
    target = Path(source["cache_dir"], source["repo"].replace("/", "+"), source["commit"], path)
    expected = expected_sha256(source, path)
    if not (target.exists() and (expected is None or _sha256(target) == expected)):
        where = url(source, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
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
    digest = _sha256(target)
    if expected is not None and digest != expected:
        target.unlink()
        raise DataError(f"{path} at {source['repo']}@{source['commit']}: sha256 {digest}, expected {expected}; "
                        "the download was removed (another commit, or a changed file?)")
    if expected is None:
        log.warning("%s: no recorded sha256 for %s@%s; recording %s", path, source["repo"], source["commit"], digest)
    return target, digest


# ---- converters: one released file (or folder) -> one probe's score rows ----

CONVERTERS: dict[str, dict[str, Callable]] = {}
# the datasets a converter reads (the study's prepared tables of these names)
NEEDS: dict[tuple[str, str], list[str]] = {}


def converter(fmt: str, probe: str, needs: list[str] | None = None):
    def register(fn):
        CONVERTERS.setdefault(fmt, {})[probe] = fn
        NEEDS[(fmt, probe)] = list(needs or [])
        return fn

    return register


def needs(source: dict | None, probe: str) -> list[str]:
    return NEEDS.get((settings(source)["format"], probe), [])


def _file_entry(entry) -> dict:
    return {"path": entry} if isinstance(entry, str) else dict(entry)


@converter("unintended_impacts", "opinions")
def _opinions(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path)
    _present(df, ["question", "options", "probs"], path)
    countries = list(spec["countries"])
    _present(df, countries, path)
    sims = df[countries].astype(float)
    # asked in every country of the filter (-1.0: not asked); as in the authors' filter a
    # missing similarity (NaN: one question of the release) does not drop the question,
    # and the analysis leaves it out of that country's mean
    asked = ~(sims == -1.0).any(axis=1)
    rows = []
    for i in np.flatnonzero(asked.to_numpy()):
        probs = ast.literal_eval(df["probs"].iat[i])
        options = ast.literal_eval(df["options"].iat[i])
        if len(probs) != len(options):
            raise DataError(f"{path}: row {i + 2}: {len(probs)} probabilities for {len(options)} options")
        similarities = json.dumps({c: float(sims[c].iat[i]) for c in countries})
        for k, p in enumerate(probs):
            letter = chr(ord("A") + k)
            lp = float(np.log(p)) if p > 0 else -np.inf
            rows.append({"item": f"q{i:04d}", "variant": "", "candidate": letter, "continuation": f"{letter})",
                         "n_options": len(probs), "logprob_sum": lp, "logprob_mean": lp, "n_tokens": np.nan,
                         "similarities": similarities})
    return pd.DataFrame(rows)


def _study_countries(tables: dict) -> list[str]:
    """The study's countries (its `countries` dataset): the ranking is among them."""
    return tables["countries"]["country"].tolist()


@converter("unintended_impacts", "country_rank", needs=["countries"])
def _country_rank(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path)
    require_columns(df, ["Question", "Sentiment"], str(path))
    reward = "reward_model" in df.columns
    countries = _study_countries(tables)
    missing = [c for c in countries if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column for the countries {missing[:5]} of the study's `countries` dataset")
    sentiment = df["Sentiment"].str.strip().str.lower()
    bad = ~sentiment.isin(["positive", "negative"])
    if bad.any():
        raise DataError(f"{path}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 2}: Sentiment must be positive or "
                        "negative")
    values = df[countries].astype(float)
    if values.isna().any().any():
        row = int(np.flatnonzero(values.isna().any(axis=1).to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: a missing score")
    long = values.assign(item=[f"ar{i:03d}" for i in range(len(df))], sentiment=sentiment.to_numpy()).melt(
        id_vars=["item", "sentiment"], var_name="candidate", value_name="value")
    long = long.sort_values("item", kind="stable").reset_index(drop=True)
    out = long[["item"]].assign(variant="", candidate=long["candidate"], sentiment=long["sentiment"])
    if reward:
        return out.assign(reward=long["value"])
    # the released value is the mean negative log-likelihood of the country's tokens
    return out.assign(logprob_mean=-long["value"], logprob_sum=np.nan, n_tokens=np.nan)


@converter("unintended_impacts", "where_from", needs=["countries"])
def _where_from(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path)
    require_columns(df, ["country", "reward"], str(path))
    df = df[df["country"].isin(set(_study_countries(tables)))]
    return pd.DataFrame({"item": "where_from", "variant": "", "candidate": df["country"].to_numpy(),
                         "reward": df["reward"].astype(float).to_numpy()})


@converter("unintended_impacts", "dialect_intent")
def _dialect_intent(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    path, _ = fetch(entry["path"])
    df = read_csv_input(path, keep_default_na=False)
    require_columns(df, ["dialect", "correct_answer", "generated_correct_answer_num"], str(path))
    _present(df, ["generated_answer", "transcript"], path)  # may be empty (an empty generation)
    # the release has no game id: a game is its dialect, transcript and word (with a
    # running count for repeats), the same in every model's file
    key = df["dialect"] + "\x1f" + df["transcript"] + "\x1f" + df["correct_answer"]
    digest = key.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:12])
    item = df["dialect"] + "-" + digest + "-" + digest.groupby(digest).cumcount().astype(str)
    correct = pd.to_numeric(df["generated_correct_answer_num"], errors="coerce")
    if correct.isna().any() or not correct.isin([0, 1]).all():
        raise DataError(f"{path}: generated_correct_answer_num must be 0 or 1")
    return pd.DataFrame({"item": item, "variant": "", "candidate": "", "dialect": df["dialect"],
                         "correct_word": df["correct_answer"], "answer": df["generated_answer"],
                         "correct": correct.astype(float)})


def _present(df: pd.DataFrame, columns: list[str], path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column {missing[0]!r}")


TYDIQA_LANGUAGES = ["arabic", "bengali", "english", "finnish", "indonesian", "korean", "russian", "swahili", "telugu"]
TYDIQA_GOLD = "data/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{language}.json"


@converter("unintended_impacts", "extractive_qa")
def _extractive_qa(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    from ..probes.extractive_qa.items import exact_match, f1

    rows = []
    for language in entry.get("languages") or TYDIQA_LANGUAGES:
        gold_path, _ = fetch((entry.get("gold") or TYDIQA_GOLD).format(language=language))
        pred_path, _ = fetch(f"{entry['path'].rstrip('/')}/{language}.json")
        predictions = json.loads(Path(pred_path).read_text(encoding="utf-8"))
        for article in json.loads(Path(gold_path).read_text(encoding="utf-8"))["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    golds = [a["text"] for a in qa["answers"]]
                    if qa["id"] not in predictions:
                        raise DataError(f"{pred_path}: no prediction for {qa['id']}")
                    # the authors' postprocessing: the answer ends at the first blank line
                    answer = predictions[qa["id"]].split("\n\n")[0].strip()
                    rows.append({"item": qa["id"], "language": qa["id"].split("-", 1)[0], "question": qa["question"],
                                 "gold": golds, "variant": "", "candidate": "", "answer": answer,
                                 "em": exact_match(answer, golds), "f1": f1(answer, golds)})
    return pd.DataFrame(rows)


LLM_BIAS_COLUMNS = ["country_1", "country_2", "scenario", "scenario_type", "question", "diff_fwd", "diff_rev",
                    "bias", "compliance"]
LLM_BIAS_QUESTIONS = {"justified": "more", "unjustified": "less"}


def read_released(path: str | Path, model: str, language: str, fictional: bool, probe: str = "country_pairs"
                  ) -> pd.DataFrame:
    """One released file as item rows of the probe's score table."""
    df = read_csv_input(path)
    require_columns(df, LLM_BIAS_COLUMNS, str(path))
    require_values(df, "question", set(LLM_BIAS_QUESTIONS), str(path))
    numbers = df[["diff_fwd", "diff_rev", "bias", "compliance"]].astype(float)
    if numbers.isna().any().any():
        row = int(np.flatnonzero(numbers.isna().any(axis=1).to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: a missing number")
    bad = pd.Series(~np.isclose(numbers["bias"], (numbers["diff_fwd"] + numbers["diff_rev"]) / 2, atol=1e-6))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: row {row + 2}: bias is not (diff_fwd + diff_rev) / 2")
    question = df["question"].map(LLM_BIAS_QUESTIONS)
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


@converter("llm_bias", "country_pairs")
def _llm_bias_pairs(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    """Every released file of one model (its real-country folder and its fictional-control
    folder per language) as country_pairs item rows."""
    if not entry.get("key"):
        raise DataError("a released llm_bias model needs `key` (the authors' file name stem)")
    frames = []
    for fictional, folders in ((False, {**(source.get("folders") or {}), **(entry.get("folders") or {})}),
                               (True, {**(source.get("fictional") or {}), **(entry.get("fictional") or {})})):
        for language, folder in folders.items():
            path, _ = fetch(f"{folder}/{entry['key']}_raw.csv")
            frames.append(read_released(path, "", language, fictional).drop(columns=["model", "probe"]))
    return pd.concat(frames, ignore_index=True)


def released_scores(model: str, probe: str, entry: dict | None, source: dict | None, spec: dict,
                    tables: dict[str, pd.DataFrame] | None = None) -> tuple[pd.DataFrame, dict]:
    """A model's score table for one probe from its released files, with provenance
    (repository, commit, URL and sha256 of every file). A model without a released
    file for the probe gets an empty table (as a reward model gets for a probe without
    a reward path)."""
    source = settings(source)
    files = []

    def fetch(path: str):
        local, digest = download(source, path)
        files.append({"path": path, "url": url(source, path), "sha256": digest})
        return local, digest

    provenance = {"model": model, "probe": probe, "source": "released", "repo": source["repo"],
                  "commit": source["commit"], "format": source["format"], "files": files}
    file_entry = ((entry or {}).get("files") or {}).get(probe)
    if file_entry is None:
        return pd.DataFrame(), provenance
    convert = CONVERTERS.get(source["format"], {}).get(probe)
    if convert is None:
        raise DataError(f"released format {source['format']!r} has no converter for probe {probe!r}; it has "
                        f"{sorted(CONVERTERS.get(source['format'], {}))}")
    table = convert(fetch, _file_entry(file_entry), spec, tables or {}, source)
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
    path, digest = download(source, file)
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
def load_llm_bias_bank(repo: str = LLM_BIAS_REPO, commit: str = LLM_BIAS_COMMIT, base: str = LLM_BIAS_BANK_BASE,
                       sha256: dict | str | None = None, cache_dir: str = "resources/released",
                       files: dict[str, str] | None = None, code: str = "gpu_bias.py",
                       templates: str | None = None) -> pd.DataFrame:
    """The items Bladon & Bent's released runs asked, as the `scenarios` table: their
    scenario bank (`scenarios.py`, `scenarios_fr.py`, `scenarios_zh.py`: every scenario's
    text per language, the countries' names per language) and their run script's
    country lists (`COUNTRIES`, `FICTIONAL_COUNTRIES` of `gpu_bias.py`: which countries,
    and in which order, so that the pairs are the released rows' country_1, country_2),
    downloaded from the released repository at `commit` and checked as the released
    outputs are (`sha256`: a map or a checksum list; null: the checksums recorded in the
    project), read with `ast`, never executed. With the probe's `protocol: paper` a
    model is asked exactly the prompts the released rows were scored on (every pair,
    scenario, language and question; both role orders and both option orders). The
    authors' text has no licence: it is downloaded at run time, never shipped."""
    from .supplied import llm_bias_bank

    source = {"repo": repo, "commit": commit, "base": base, "sha256": sha256, "cache_dir": cache_dir}
    local, digests = {}, {}
    for language, file in (files or LLM_BIAS_BANK).items():
        local[language], digests[file] = download(source, file)
    if "en" not in local:
        raise DataError(f"llm_bias_bank: files {sorted(local)} has no en (the English bank, whose COUNTRIES_BY_LANG "
                        "names the countries per language)")
    code_path, digests[code] = download(source, code)
    lists = _python_lists(code_path)
    missing = [name for name in ("COUNTRIES", "FICTIONAL_COUNTRIES") if name not in lists]
    if missing:
        raise DataError(f"{code} at {repo}@{commit}: no list {missing[0]}; lists: {sorted(lists)}")
    out = llm_bias_bank(local, [str(c) for c in lists["COUNTRIES"]], [str(c) for c in lists["FICTIONAL_COUNTRIES"]],
                        templates, f"{repo}@{commit}")
    out.attrs["revision"] = f"{repo}@{commit}: " + ", ".join(f"{f} sha256:{d}" for f, d in digests.items())
    return out
