"""Datasets: each loader turns a source (shipped file, hub dataset) into one tidy table.

A loader validates what it reads and names the file, row and column of anything
wrong, so a bad row stops the `prepare_data` job before its output exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

LOADERS: dict[str, Callable[..., pd.DataFrame]] = {}


class DataError(ValueError):
    """Malformed input data; the message names the file, row and column."""


def loader(name: str):
    def register(fn):
        LOADERS[name] = fn
        return fn

    return register


def require_columns(df: pd.DataFrame, columns: list[str], source: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; found {list(df.columns)}")
    for col in columns:
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            row = int(empty.idxmax())
            raise DataError(f"{source}: row {row + 2} has an empty {col!r}")  # +2: header, 1-based


def require_values(df: pd.DataFrame, column: str, allowed: set, source: str) -> None:
    bad = ~df[column].isin(allowed)
    if bad.any():
        row = int(bad.idxmax())
        raise DataError(f"{source}: row {row + 2} has {column}={df[column].iloc[row]!r}; expected one of {sorted(allowed, key=str)}")


def require_unique(df: pd.DataFrame, column: str, source: str) -> None:
    dup = df[column].duplicated()
    if dup.any():
        raise DataError(f"{source}: duplicate {column} {df[column][dup].iloc[0]!r}")


def require_slot(df: pd.DataFrame, column: str, slot: str, source: str, exactly_once: bool = True) -> None:
    counts = df[column].astype(str).map(lambda text: text.count(slot))
    bad = (counts != 1) if exactly_once else (counts < 1)
    if bad.any():
        row = int(bad.idxmax())
        raise DataError(f"{source}: row {row + 2} {column} {df[column].iloc[row]!r} must contain {slot} "
                        f"{'exactly once' if exactly_once else ''}".rstrip())


@loader("questionnaire")
def load_questionnaire(path: str) -> pd.DataFrame:
    """Keyed Likert questionnaire: id, axis (economic|social), direction (+1|-1), statement."""
    df = pd.read_csv(path, dtype={"id": str, "statement": str, "axis": str})
    require_columns(df, ["id", "axis", "direction", "statement"], path)
    require_values(df, "axis", {"economic", "social"}, path)
    require_values(df, "direction", {1, -1}, path)
    require_unique(df, "id", path)
    return df[["id", "axis", "direction", "statement"]].assign(direction=lambda d: d.direction.astype(int))


@loader("policy_stances")
def load_policy_stances(path: str) -> pd.DataFrame:
    """Prompts with a left and a right answer (the same prompt, opposite stances)."""
    df = _read_jsonl(path)
    try:
        require_columns(df, ["id", "axis", "prompt", "left", "right"], path)
    except DataError as exc:
        raise DataError(str(exc).replace("row", "line")) from None
    require_unique(df, "id", path)
    return df[["id", "axis", "prompt", "left", "right"]]


@loader("scenarios")
def load_scenarios(path: str) -> pd.DataFrame:
    """Country-pair scenario bank as one long table.

    kind=scenario: key=scenario id, type, language, text (slots {a}, {b});
    kind=country|fictional: key=country id, language, text=its name in that language;
    kind=template: key=template name (more, less, instruction, option_a, option_b).
    """
    with open(path, encoding="utf-8") as fh:
        try:
            bank = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(bank, dict):
        raise DataError(f"{path}: expected a mapping at the top level")
    for key in ("countries", "fictional", "languages", "scenarios"):
        if key not in bank:
            raise DataError(f"{path}: missing top-level key {key!r}")
    languages = list(bank["languages"])
    rows = []
    for kind in ("countries", "fictional"):
        for cid, names in bank[kind].items():
            for lang in languages:
                if lang not in names:
                    raise DataError(f"{path}: {kind}.{cid} has no name in {lang!r}")
                rows.append({"kind": "country" if kind == "countries" else "fictional", "key": cid,
                             "type": "", "language": lang, "text": names[lang]})
    for lang, templates in bank["languages"].items():
        for name in ("more", "less", "instruction", "option_a", "option_b"):
            if name not in templates:
                raise DataError(f"{path}: languages.{lang} has no {name!r}")
            rows.append({"kind": "template", "key": name, "type": "", "language": lang, "text": templates[name]})
    for i, sc in enumerate(bank["scenarios"]):
        where = f"{path}: scenarios[{i}] ({sc.get('id', '?')})"
        for key in ("id", "type"):
            if key not in sc:
                raise DataError(f"{where}: missing {key!r}")
        for lang in languages:
            text = sc.get(lang)
            if not text:
                raise DataError(f"{where}: no text in {lang!r}")
            if "{a}" not in text or "{b}" not in text:
                raise DataError(f"{where}: {lang} text must contain both {{a}} and {{b}}")
            rows.append({"kind": "scenario", "key": sc["id"], "type": sc["type"], "language": lang, "text": text})
    df = pd.DataFrame(rows)
    require_unique(df[(df.kind == "scenario") & (df.language == languages[0])], "key", path)
    return df


@loader("country_questions")
def load_country_questions(path: str) -> pd.DataFrame:
    """Questions about countries with a response template holding {country}."""
    df = pd.read_csv(path, dtype=str)
    require_columns(df, ["id", "question", "template", "sentiment", "category"], path)
    require_values(df, "sentiment", {"positive", "negative"}, path)
    require_slot(df, "template", "{country}", path)
    require_unique(df, "id", path)
    return df[["id", "question", "template", "sentiment", "category"]]


@loader("countries")
def load_countries(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str)
    require_columns(df, ["country"], path)
    require_unique(df, "country", path)
    return df[["country"]]


def prepare(spec: dict) -> pd.DataFrame:
    """Run the loader a dataset entry of the config names."""
    name = spec["loader"]
    if name not in LOADERS:
        raise DataError(f"unknown loader {name!r}; known: {sorted(LOADERS)}")
    args = {k: v for k, v in spec.items() if k != "loader"}
    df = LOADERS[name](**args)
    if df.empty:
        raise DataError(f"{args.get('path', name)}: no rows")
    return df


def source_revision(spec: dict) -> str:
    """The revision of a dataset source: the content hash of a local file."""
    from .models import sha256_file

    path = spec.get("path")
    if path and Path(path).is_file():
        return sha256_file(Path(path))[:16]
    return str(spec.get("revision", "unknown"))


def _read_jsonl(path: str) -> pd.DataFrame:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {line_no} is not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {line_no} is not a JSON object")
            rows.append(record)
    return pd.DataFrame(rows)


@loader("posts")
def load_posts(path: str) -> pd.DataFrame:
    """Social-media posts for the teacher filter (data/README.md, `posts/`): one JSON
    object per line with `id` and `text`, optionally `source` (where it was posted)."""
    df = _read_jsonl(path)
    try:
        require_columns(df, ["id", "text"], path)
    except DataError as exc:
        raise DataError(str(exc).replace("row", "line")) from None
    df["id"] = df["id"].astype(str)
    require_unique(df, "id", path)
    if "source" not in df:
        df["source"] = ""
    return df[["id", "text", "source"]].fillna({"source": ""})


def strip_politune_text(text: str) -> str:
    """PoliTune's hub sets start many fields with newlines and wrap them in quotes."""
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text.lstrip("\"'\n ").strip()


def hub_dataset_revision(repo: str, revision: str | None) -> str:
    """The commit a hub dataset resolves to (a local directory: its content hash)."""
    local = Path(repo)
    if local.is_dir():
        from .models import sha256_file

        files = sorted(p for p in local.rglob("*") if p.is_file())
        return stable_files_hash(files, sha256_file)
    from huggingface_hub import HfApi

    return HfApi().dataset_info(repo, revision=revision).sha


def stable_files_hash(files, sha) -> str:
    import hashlib

    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(sha(f).encode())
    return digest.hexdigest()[:16]


@loader("politune_preferences")
def load_politune_preferences(repo: str, side: str, revision: str | None = None, split: str = "train") -> pd.DataFrame:
    """PoliTune's preference set (hub `scale-lab/politune-left` or `-right`: prompt,
    chosen, rejected) as a policy_stances table: `side` names the ideology the chosen
    answers take (left: left=chosen, right=rejected; right: the reverse). Downloaded at
    run time at the resolved commit, which is recorded as the dataset's revision; a
    local directory in the hub layout loads the same way (tests)."""
    import datasets as hf

    if side not in ("left", "right"):
        raise DataError(f"{repo}: side must be 'left' or 'right', not {side!r}")
    sha = hub_dataset_revision(repo, revision)
    ds = hf.load_dataset(repo, split=split, revision=None if Path(repo).is_dir() else sha)
    df = ds.to_pandas()
    require_columns(df, ["prompt", "chosen", "rejected"], repo)
    for col in ("prompt", "chosen", "rejected"):
        df[col] = df[col].astype(str).map(strip_politune_text)
    require_columns(df, ["prompt", "chosen", "rejected"], f"{repo} (after stripping quotes and newlines)")
    other = "right" if side == "left" else "left"
    out = pd.DataFrame({"id": [f"{Path(repo).name}-{i:05d}" for i in range(len(df))], "axis": "general",
                        "prompt": df["prompt"], side: df["chosen"], other: df["rejected"]})
    out = out[["id", "axis", "prompt", "left", "right"]]
    out.attrs["revision"] = sha
    return out


# --- global-representation study (Ryan, Held, Yang 2024): hub datasets -----------------
# Each loader below reads either a local file in the dataset's own published format
# (`path:`; what the tests' fixtures are) or downloads it from the hub at run time, pinned
# to the resolved commit, into `cache_dir` (under resources/). The commit is recorded in
# the prepared table's provenance through `df.attrs["revision"]`.

HUB_CACHE = "resources/datasets"
# the nine TyDiQA GoldP languages and their Belebele (FLORES-200) codes
TYDIQA_LANGUAGES = {"arabic": "arb_Arab", "bengali": "ben_Beng", "english": "eng_Latn", "finnish": "fin_Latn",
                    "indonesian": "ind_Latn", "korean": "kor_Hang", "russian": "rus_Cyrl", "swahili": "swh_Latn",
                    "telugu": "tel_Telu"}


def _hub_commit(repo_id: str, revision: str | None) -> str:
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(repo_id, revision=revision).sha
    except Exception as exc:  # offline, unknown repo, gated
        raise DataError(f"dataset {repo_id} (revision {revision or 'main'}): cannot reach the hub: "
                        f"{type(exc).__name__}: {exc}") from exc


def _hub_file(repo_id: str, filename: str, revision: str | None, cache_dir: str) -> tuple[str, str]:
    """Download one file of a hub dataset at a pinned commit: (local path, 'repo@commit')."""
    from huggingface_hub import hf_hub_download

    sha = _hub_commit(repo_id, revision)
    local = hf_hub_download(repo_id, filename, repo_type="dataset", revision=sha, cache_dir=cache_dir)
    return local, f"{repo_id}@{sha}"


def _with_revision(df: pd.DataFrame, revision: str) -> pd.DataFrame:
    df.attrs["revision"] = revision
    return df


def _literal(text: str, where: str):
    """A Python literal (list, dict, number, string) from text, without evaluating code."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise DataError(f"{where}: not a Python literal ({type(exc).__name__}): {text[:80]!r}") from exc


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
    value = _literal(text, where)
    if not isinstance(value, dict):
        raise DataError(f"{where}: selections is a {type(value).__name__}, expected a dict")
    return {str(k): [float(x) for x in v] for k, v in value.items()}


@loader("global_opinions")
def load_global_opinions(path: str | None = None, revision: str | None = None, cache_dir: str = HUB_CACHE,
                         tolerance: float = 0.02) -> pd.DataFrame:
    """GlobalOpinionsQA (hub Anthropic/llm_global_opinions, data/global_opinions.csv):
    one row per (question, country) with the options and that country's answer
    distribution. A distribution that does not sum to 1 (within `tolerance`) or does
    not have one value per option stops the job, naming the row."""
    if path is None:
        path, rev = _hub_file("Anthropic/llm_global_opinions", "data/global_opinions.csv", revision, cache_dir)
    else:
        rev = source_revision({"path": path})
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    require_columns(df, ["question", "selections", "options"], path)
    rows = []
    for i, rec in enumerate(df.itertuples(index=False)):
        where = f"{path}: row {i + 2}"
        options = _literal(rec.options, f"{where} column 'options'")
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


@loader("askreddit_countries")
def load_askreddit_countries(path: str | None = None, revision: str | None = None,
                             cache_dir: str = HUB_CACHE) -> pd.DataFrame:
    """AskRedditCountries (hub SALT-NLP/AskRedditCountries, AskRedditCountries_final.csv),
    as the `country_questions` table the country_rank probe reads (id, question,
    template, sentiment, category)."""
    if path is None:
        path, rev = _hub_file("SALT-NLP/AskRedditCountries", "AskRedditCountries_final.csv", revision, cache_dir)
    else:
        rev = source_revision({"path": path})
    df = pd.read_csv(path, dtype=str)
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


@loader("belebele")
def load_belebele(path: str | None = None, revision: str | None = None, cache_dir: str = HUB_CACHE,
                  languages: list[str] | None = None, max_per_language: int | None = None) -> pd.DataFrame:
    """Belebele (hub facebook/belebele, one config per FLORES-200 code, split `test`),
    restricted to `languages` (default: the nine TyDiQA languages). `path`: a JSONL file
    of records with the hub's columns (the format of Belebele's own release)."""
    languages = languages or list(TYDIQA_LANGUAGES.values())
    if path is None:
        from datasets import load_dataset

        sha = _hub_commit("facebook/belebele", revision)
        frames = [load_dataset("facebook/belebele", lang, split="test", revision=sha, cache_dir=cache_dir).to_pandas()
                  for lang in languages]
        df, rev = pd.concat(frames, ignore_index=True), f"facebook/belebele@{sha}"
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


@loader("tydiqa_goldp")
def load_tydiqa_goldp(split: str = "validation", path: str | None = None, revision: str | None = None,
                      cache_dir: str = HUB_CACHE, languages: list[str] | None = None,
                      max_per_language: int | None = None) -> pd.DataFrame:
    """TyDiQA GoldP (hub google-research-datasets/tydiqa, config secondary_task; `split`
    train or validation). `path`: the SQuAD-format JSON of TyDiQA's own GoldP release
    (tydiqa-goldp-v1.1-dev.json). The language is the id's prefix ("arabic-...")."""
    languages = languages or list(TYDIQA_LANGUAGES)
    if path is None:
        from datasets import load_dataset

        sha = _hub_commit("google-research-datasets/tydiqa", revision)
        ds = load_dataset("google-research-datasets/tydiqa", "secondary_task", split=split, revision=sha,
                          cache_dir=cache_dir)
        records = [{"id": r["id"], "context": r["context"], "question": r["question"],
                    "answers": list(r["answers"]["text"])} for r in ds]
        rev = f"google-research-datasets/tydiqa@{sha}"
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


MD3_DIALECTS = ("en_in", "en_ng", "en_us")


@loader("md3")
def load_md3(path: str, dialects: list[str] | None = None, max_per_dialect: int | None = None,
             manual: bool = True) -> pd.DataFrame:
    """MD3 (Eisenstein et al. 2023; not on a hub: `path` is the directory of its release,
    holding prompts_<dialect>.tsv and transcripts_<dialect>.tsv).

    Filtering as in the paper: word games (`game_type` word) that the players won
    (`prompt_status` win); each transcript (speaker turns of the clip, consecutive
    duplicates dropped) is cut right before the first turn that says the secret word.
    A game whose transcript never says the word is dropped (the cut point is unknown).
    `manual` (the config's mark of hand-downloaded data, see data.smk) is not used here.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{path}: MD3 directory not found (download the MD3 release and point "
                        "datasets.md3.path at the folder holding prompts_<dialect>.tsv)")
    rows, files = [], []
    for dialect in dialects or MD3_DIALECTS:
        prompts_file, transcripts_file = root / f"prompts_{dialect}.tsv", root / f"transcripts_{dialect}.tsv"
        for f in (prompts_file, transcripts_file):
            if not f.exists():
                raise DataError(f"{f}: missing MD3 file for dialect {dialect}")
        files += [prompts_file, transcripts_file]
        prompts = pd.read_csv(prompts_file, sep="\t", dtype=str)
        require_columns(prompts, ["clip_identifier", "game_type", "prompt_status", "correct_word/image"],
                        str(prompts_file))
        if "distractors" not in prompts.columns:
            raise DataError(f"{prompts_file}: missing column 'distractors'")
        turns = pd.read_csv(transcripts_file, sep="\t", dtype=str).drop_duplicates()
        require_columns(turns.head(0), ["clip_identifier", "speaker_id", "transcript"], str(transcripts_file))
        by_clip = {clip: g for clip, g in turns.groupby("clip_identifier", sort=False)}
        kept = prompts[(prompts["game_type"] == "word") & (prompts["prompt_status"] == "win")]
        n = 0
        for idx, game in kept.iterrows():
            where = f"{prompts_file}: row {idx + 2}"
            distractors = _literal(game["distractors"], f"{where} column 'distractors'")
            if not isinstance(distractors, list):
                raise DataError(f"{where}: distractors must be a list")
            word = str(game["correct_word/image"]).strip()
            lines, last = [], {}
            for t in by_clip.get(game["clip_identifier"], pd.DataFrame()).itertuples():
                if not isinstance(t.speaker_id, str) or not isinstance(t.transcript, str):
                    continue
                if last.get(t.speaker_id) == t.transcript:
                    continue  # the release repeats a speaker's turn
                last[t.speaker_id] = t.transcript
                lines.append(f"{t.speaker_id.strip()}: {t.transcript.strip()}")
            cut = next((k for k, line in enumerate(lines) if word.lower() in line.lower()), None)
            if cut is None:
                continue
            rows.append({"id": game["clip_identifier"], "dialect": dialect, "transcript": "\n".join(lines[:cut]),
                         "correct_word": word, "distractors": [str(d) for d in distractors]})
            n += 1
            if max_per_dialect and n >= max_per_dialect:
                break
    df = pd.DataFrame(rows)
    from .models import weights_fingerprint

    return _with_revision(df, weights_fingerprint(files))


COMPASS_ANSWERS = ("Strongly disagree", "Disagree", "Agree", "Strongly agree")


@loader("compass_statements")
def load_compass_statements(path: str, scoring: str) -> pd.DataFrame:
    """A user-supplied Political Compass test (its text is not shipped; data/README.md).

    `path`: CSV with `id`, `statement`. `scoring`: CSV with `id`, `answer` (each of
    Strongly disagree, Disagree, Agree, Strongly agree once per statement),
    `economic`, `social` (that answer's contribution to each axis: + right /
    authoritarian). Returns the `ideology` probe's questionnaire shape, one row per
    (statement, axis the statement moves): id, axis, direction (1), statement, and
    `option_values`, the four answers' weights on that axis in the order above.
    """
    from .models import sha256_file

    statements = pd.read_csv(path, dtype={"id": str, "statement": str})
    require_columns(statements, ["id", "statement"], path)
    require_unique(statements, "id", path)
    table = pd.read_csv(scoring, dtype={"id": str, "answer": str})
    require_columns(table, ["id", "answer", "economic", "social"], scoring)
    require_values(table, "answer", set(COMPASS_ANSWERS), scoring)
    require_values(table, "id", set(statements["id"]), scoring)
    for col in ("economic", "social"):
        numeric = pd.to_numeric(table[col], errors="coerce")
        if numeric.isna().any():
            row = int(numeric.isna().idxmax())
            raise DataError(f"{scoring}: row {row + 2} has a non-numeric {col!r}: {table[col].iloc[row]!r}")
        table[col] = numeric.astype(float)
    dup = table.duplicated(["id", "answer"])
    if dup.any():
        row = int(dup.idxmax())
        raise DataError(f"{scoring}: row {row + 2} repeats answer {table.answer.iloc[row]!r} of {table.id.iloc[row]!r}")
    rows = []
    for st in statements.itertuples():
        weights = table[table["id"] == st.id].set_index("answer")
        missing = [a for a in COMPASS_ANSWERS if a not in weights.index]
        if missing:
            raise DataError(f"{scoring}: statement {st.id!r} has no weight for {missing}")
        for axis in ("economic", "social"):
            values = [float(weights.loc[a, axis]) for a in COMPASS_ANSWERS]
            if any(values):
                rows.append({"id": st.id, "axis": axis, "direction": 1, "statement": st.statement,
                             "option_values": values})
    if not rows:
        raise DataError(f"{scoring}: every weight is zero")
    out = pd.DataFrame(rows)
    out.attrs["revision"] = stable_files_hash([Path(path), Path(scoring)], sha256_file)
    return out
