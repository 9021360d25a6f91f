"""Hub datasets, downloaded at run time at a pinned commit (or read from a local copy
in the same published format).

Which commit: a dataset entry's `revision` when it is a commit; else, with the study's
`hub_lock` file, the commit locked there for (repository, revision); else what the
revision (null: main) points to now (`datasets.prepare` resolves it through
`hub_commit`, and the prepared table's provenance records it for the `hub_lock` rule).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..directions import DIRECTIONS, opposite
from ..provenance import hub_revision
from . import loader, source_revision
from .checks import DataError, literal, read_csv_input, require_columns, require_slot, require_values


def strip_politune_text(text: str) -> str:
    """PoliTune's hub sets start many fields with newlines and wrap them in quotes."""
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text.lstrip("\"'\n ").strip()




def _no_local_path(args: dict) -> bool:
    return not args.get("path")


@loader("politune_preferences", downloads=lambda args: not Path(str(args.get("repo", ""))).is_dir())
def load_politune_preferences(repo: str, side: str, revision: str | None = None, split: str = "train",
                              strip: bool = True, max_chars: int | None = None) -> pd.DataFrame:
    """PoliTune's preference set (hub `scale-lab/politune-left` or `-right`: prompt,
    chosen, rejected) as a policy_stances table: `side` names the ideology the chosen
    answers take (left: left=chosen, right=rejected; right: the reverse). Downloaded at
    run time at the resolved commit, which is recorded as the dataset's revision; a
    local directory in the hub layout loads the same way (tests).

    `strip` (default true) removes the fields' leading newlines and wrapping quotes;
    false keeps them as published, stripping only surrounding whitespace (PoliTune's
    released code feeds them as they are). `max_chars` keeps only the rows whose prompt
    plus chosen and prompt plus rejected are each at most that many characters, counted
    on the published strings before any stripping, as the released loader's
    PreferenceDataset does with its max_seq_len (1024)."""
    import datasets as hf

    if side not in DIRECTIONS:
        raise DataError(f"{repo}: side must be one of {DIRECTIONS}, not {side!r}")
    sha = _hub_commit(repo, revision)
    ds = hf.load_dataset(repo, split=split, revision=None if Path(repo).is_dir() else sha)
    df = ds.to_pandas()
    require_columns(df, ["prompt", "chosen", "rejected"], repo)
    df = df.reset_index(drop=True)
    if max_chars is not None:
        prompt = df["prompt"].astype(str).str.len()
        keep = ((prompt + df["chosen"].astype(str).str.len() <= int(max_chars))
                & (prompt + df["rejected"].astype(str).str.len() <= int(max_chars)))
        df = df[keep]
    for col in ("prompt", "chosen", "rejected"):
        df[col] = df[col].astype(str).map(strip_politune_text if strip else str.strip)
    require_columns(df, ["prompt", "chosen", "rejected"], f"{repo} (after stripping quotes and newlines)")
    other = opposite(side)
    out = pd.DataFrame({"id": [f"{Path(repo).name}-{i:05d}" for i in df.index], "axis": "general",
                        "prompt": df["prompt"], side: df["chosen"], other: df["rejected"]})
    out = out[["id", "axis", "prompt", "left", "right"]].reset_index(drop=True)
    out.attrs["revision"] = sha
    return out


# --- global-representation study (Ryan, Held, Yang 2024): hub datasets -----------------
# Each loader below reads either a local file in the dataset's own published format
# (`path:`; what the tests' fixtures are) or downloads it from the hub at run time, pinned
# to the resolved commit, into the standard caches (huggingface_hub's `$HF_HOME/hub`,
# datasets' `$HF_HOME/datasets`; `cache_dir` overrides). With HF_HUB_OFFLINE=1 the
# commit comes from the cache's `refs/`, without a network call. The commit is recorded
# in the prepared table's provenance through `df.attrs["revision"]`.

HUB_CACHE = None
# the nine TyDiQA GoldP languages and their Belebele (FLORES-200) codes
TYDIQA_LANGUAGES = {"arabic": "arb_Arab", "bengali": "ben_Beng", "english": "eng_Latn", "finnish": "fin_Latn",
                    "indonesian": "ind_Latn", "korean": "kor_Hang", "russian": "rus_Cyrl", "swahili": "swh_Latn",
                    "telugu": "tel_Telu"}


# the hub repository of each loader that downloads one (PoliTune's: its `repo` setting)
HUB_REPOS = {"global_opinions": "Anthropic/llm_global_opinions", "askreddit_countries": "SALT-NLP/AskRedditCountries",
             "belebele": "facebook/belebele", "tydiqa_goldp": "google-research-datasets/tydiqa"}


def hub_repo(spec: dict) -> str | None:
    """The hub dataset a dataset entry downloads, or None (a local file or directory)."""
    if spec.get("loader") == "politune_preferences":
        repo = spec.get("repo")
        return None if not repo or Path(repo).is_dir() else repo
    return None if spec.get("path") else HUB_REPOS.get(spec.get("loader"))


def hub_commit(repo_id: str, revision: str | None, lock: str | Path | None = None) -> str:
    """The commit a hub dataset is read at: the revision if it is a commit, else the one
    `lock` (the study's hub lock file) holds for (repo, revision), else the revision's
    current commit (offline: the cache's)."""
    from ..hub_lock import HubLock

    return _hub_commit(repo_id, HubLock(lock).get(repo_id, revision, "datasets") or revision)


def _hub_commit(repo_id: str, revision: str | None) -> str:
    from ..models.hub import cached_commit, offline

    if offline() and not Path(repo_id).is_dir():
        commit = cached_commit(repo_id, revision, repo_type="dataset")
        if commit:
            return commit
        raise DataError(f"dataset {repo_id} (revision {revision or 'main'}): HF_HUB_OFFLINE is set and the hub "
                        "cache has no copy of it")
    try:
        return hub_revision(repo_id, revision, repo_type="dataset")
    except Exception as exc:  # offline, unknown repo, gated
        raise DataError(f"dataset {repo_id} (revision {revision or 'main'}): cannot reach the hub: "
                        f"{type(exc).__name__}: {exc}") from exc


def _hub_file(repo_id: str, filename: str, revision: str | None, cache_dir: str | None) -> tuple[str, str]:
    """Download one file of a hub dataset at a pinned commit: (local path, 'repo@commit')."""
    from huggingface_hub import hf_hub_download

    sha = _hub_commit(repo_id, revision)
    local = hf_hub_download(repo_id, filename, repo_type="dataset", revision=sha, cache_dir=cache_dir)
    return local, f"{repo_id}@{sha}"


def _with_revision(df: pd.DataFrame, revision: str) -> pd.DataFrame:
    df.attrs["revision"] = revision
    return df


def parse_selections(text: str, where: str) -> dict[str, list[float]]:
    """GlobalOpinionsQA `selections`: "defaultdict(<class 'list'>, {'Brazil': [0.4, 0.6], ...})".

    Only the dict literal inside is parsed (ast.literal_eval); the defaultdict wrapper is
    text, never evaluated."""
    text = str(text).strip()
    if text.startswith("defaultdict("):
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            raise DataError(f"{where}: selections {text[:80]!r} holds no dict")
        text = text[start : end + 1]
    value = literal(text, where)
    if not isinstance(value, dict):
        raise DataError(f"{where}: selections is a {type(value).__name__}, expected a dict")
    return {str(k): [float(x) for x in v] for k, v in value.items()}


@loader("global_opinions", downloads=_no_local_path)
def load_global_opinions(path: str | None = None, revision: str | None = None, cache_dir: str | None = HUB_CACHE,
                         tolerance: float = 0.02) -> pd.DataFrame:
    """GlobalOpinionsQA (hub Anthropic/llm_global_opinions, data/global_opinions.csv):
    one row per (question, country) with the options and that country's answer
    distribution. A distribution that does not sum to 1 (within `tolerance`) or does
    not have one value per option stops the job, naming the row."""
    if path is None:
        path, rev = _hub_file(HUB_REPOS["global_opinions"], "data/global_opinions.csv", revision, cache_dir)
    else:
        rev = source_revision({"path": path})
    df = read_csv_input(path, dtype=str, keep_default_na=False)
    require_columns(df, ["question", "selections", "options"], path)
    rows = []
    for i, rec in enumerate(df.itertuples(index=False)):
        where = f"{path}: row {i + 2}"
        options = literal(rec.options, f"{where} column 'options'")
        if not isinstance(options, list) or len(options) < 2:
            raise DataError(f"{where}: options must be a list of at least 2 answers, got {rec.options[:80]!r}")
        for country, dist in parse_selections(rec.selections, f"{where} column 'selections'").items():
            if len(dist) != len(options):
                raise DataError(f"{where}: {country} has {len(dist)} answer shares for {len(options)} options")
            if abs(sum(dist) - 1.0) > tolerance:
                raise DataError(f"{where}: {country}'s answer shares sum to {sum(dist):.3f}, not 1")
            rows.append({"item": f"q{i:04d}", "question": rec.question, "options": [str(o) for o in options],
                         "country": country, "distribution": dist,
                         "source": getattr(rec, "source", "")})
    return _with_revision(pd.DataFrame(rows), rev)


@loader("askreddit_countries", downloads=_no_local_path)
def load_askreddit_countries(path: str | None = None, revision: str | None = None,
                             cache_dir: str | None = HUB_CACHE) -> pd.DataFrame:
    """AskRedditCountries (hub SALT-NLP/AskRedditCountries, AskRedditCountries_final.csv),
    as the `country_questions` table the country_rank probe reads (id, question,
    template, sentiment, category)."""
    if path is None:
        path, rev = _hub_file(HUB_REPOS["askreddit_countries"], "AskRedditCountries_final.csv", revision, cache_dir)
    else:
        rev = source_revision({"path": path})
    df = read_csv_input(path, dtype=str)
    require_columns(df, ["Sentiment", "Questions", "Response Format", "Category"], path)
    df = df.assign(sentiment=df["Sentiment"].str.strip().str.lower())
    require_values(df, "sentiment", {"positive", "negative"}, path)
    require_slot(df, "Response Format", "{country}", path)
    out = pd.DataFrame({"id": [f"ar{i:03d}" for i in range(len(df))], "question": df["Questions"].str.strip(),
                        "template": df["Response Format"].str.strip(), "sentiment": df["sentiment"],
                        "category": df["Category"].str.strip()})
    return _with_revision(out, rev)


BELEBELE_COLUMNS = ["link", "question_number", "flores_passage", "question", "mc_answer1", "mc_answer2",
                    "mc_answer3", "mc_answer4", "correct_answer_num", "dialect"]


@loader("belebele", downloads=_no_local_path)
def load_belebele(path: str | None = None, revision: str | None = None, cache_dir: str | None = HUB_CACHE,
                  languages: list[str] | None = None, max_per_language: int | None = None) -> pd.DataFrame:
    """Belebele (hub facebook/belebele, one config per FLORES-200 code, split `test`),
    restricted to `languages` (default: the nine TyDiQA languages). `path`: a JSONL file
    of records with the hub's columns (the format of Belebele's own release)."""
    languages = languages or list(TYDIQA_LANGUAGES.values())
    if path is None:
        from datasets import load_dataset

        repo = HUB_REPOS["belebele"]
        sha = _hub_commit(repo, revision)
        frames = [load_dataset(repo, lang, split="test", revision=sha, cache_dir=cache_dir).to_pandas()
                  for lang in languages]
        df, rev = pd.concat(frames, ignore_index=True), f"{repo}@{sha}"
    else:
        df, rev = pd.read_json(path, lines=True, dtype=False), source_revision({"path": path})
    require_columns(df, BELEBELE_COLUMNS, str(path or "facebook/belebele"))
    df = df[df["dialect"].isin(languages)].copy()
    df["correct_answer_num"] = df["correct_answer_num"].astype(str).str.strip()
    require_values(df.reset_index(drop=True), "correct_answer_num", {"1", "2", "3", "4"}, str(path))
    if max_per_language:
        df = df.groupby("dialect", sort=False).head(max_per_language)
    df["item"] = df["dialect"] + "-" + df["link"].astype(str).str.rsplit("/", n=1).str[-1] + "-" + \
        df["question_number"].astype(str)
    df = df.drop_duplicates("item")
    return _with_revision(df[["item"] + BELEBELE_COLUMNS].reset_index(drop=True), rev)


@loader("tydiqa_goldp", downloads=_no_local_path)
def load_tydiqa_goldp(split: str = "validation", path: str | None = None, revision: str | None = None,
                      cache_dir: str | None = HUB_CACHE, languages: list[str] | None = None,
                      max_per_language: int | None = None) -> pd.DataFrame:
    """TyDiQA GoldP (hub google-research-datasets/tydiqa, config secondary_task; `split`
    train or validation). `path`: the SQuAD-format JSON of TyDiQA's own GoldP release
    (tydiqa-goldp-v1.1-dev.json). The language is the id's prefix ("arabic-...")."""
    languages = languages or list(TYDIQA_LANGUAGES)
    if path is None:
        from datasets import load_dataset

        repo = HUB_REPOS["tydiqa_goldp"]
        sha = _hub_commit(repo, revision)
        ds = load_dataset(repo, "secondary_task", split=split, revision=sha, cache_dir=cache_dir)
        records = [{"id": r["id"], "context": r["context"], "question": r["question"],
                    "answers": list(r["answers"]["text"])} for r in ds]
        rev = f"{repo}@{sha}"
    else:
        with open(path, encoding="utf-8") as fh:
            try:
                squad = json.load(fh)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if "data" not in squad:
            raise DataError(f"{path}: expected SQuAD format with a top-level 'data' list")
        records = []
        for a, article in enumerate(squad["data"]):
            for p, para in enumerate(article.get("paragraphs", [])):
                for q, qa in enumerate(para.get("qas", [])):
                    where = f"{path}: data[{a}].paragraphs[{p}].qas[{q}]"
                    if not qa.get("id") or not qa.get("question") or not qa.get("answers"):
                        raise DataError(f"{where}: needs id, question and at least one answer")
                    records.append({"id": qa["id"], "context": para["context"], "question": qa["question"],
                                    "answers": [ans["text"] for ans in qa["answers"]]})
        rev = source_revision({"path": path})
    df = pd.DataFrame(records)
    df["language"] = df["id"].str.split("-", n=1).str[0]
    df = df[df["language"].isin(languages)]
    if df.empty:
        raise DataError(f"{path or 'tydiqa'}: no questions in languages {languages}")
    if max_per_language:
        df = df.groupby("language", sort=False).head(max_per_language)
    return _with_revision(df[["id", "language", "context", "question", "answers"]].reset_index(drop=True), rev)
