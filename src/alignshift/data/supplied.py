"""Datasets a user places by hand (MD3, a Political Compass file): never shipped."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from ..provenance import files_fingerprint
from . import loader
from .checks import DataError, literal, read_csv_input, require_columns, require_unique, require_values


MD3_DIALECTS = ("en_in", "en_ng", "en_us")
MD3_FIXES = ("released", "none")


def md3_fixes() -> tuple[frozenset[str], dict[str, str | None]]:
    """The released study's MD3 fixes: (games to skip, clip id -> word to cut at or None)."""
    import yaml

    data = yaml.safe_load((Path(__file__).parent / "md3_fixes.yaml").read_text(encoding="utf-8"))
    return frozenset(data["skip"]), dict(data["cut_word"])


@loader("md3")
def load_md3(path: str, dialects: list[str] | None = None, max_per_dialect: int | None = None,
             fixes: str = "released") -> pd.DataFrame:
    """MD3 (Eisenstein et al. 2023; not on a hub: `path` is the directory of its release,
    holding prompts_<dialect>.tsv and transcripts_<dialect>.tsv).

    Filtering as in the paper: word games (`game_type` word) that the players won
    (`prompt_status` win); each transcript (speaker turns of the clip, consecutive
    duplicates dropped) is cut right before the first turn that says the secret word.
    A game whose transcript never says the word is dropped (the cut point is unknown).
    `fixes`: "released" applies the released study's hand fixes (md3_fixes.yaml: 11
    games skipped; 163 games cut at another word - a misspelling or synonym the players
    used - or, where that word is null, not cut at all), giving its 216 / 251 / 427 games
    (en_in / en_ng / en_us); "none" cuts every game at its correct word.
    """
    if fixes not in MD3_FIXES:
        raise DataError(f"md3: fixes {fixes!r} is not one of {MD3_FIXES}")
    skip, cut_word = md3_fixes() if fixes == "released" else (frozenset(), {})
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
        prompts = read_csv_input(prompts_file, sep="\t", dtype=str)
        require_columns(prompts, ["clip_identifier", "game_type", "prompt_status", "correct_word/image"],
                        str(prompts_file))
        if "distractors" not in prompts.columns:
            raise DataError(f"{prompts_file}: missing column 'distractors'")
        turns = read_csv_input(transcripts_file, sep="\t", dtype=str).drop_duplicates()
        require_columns(turns.head(0), ["clip_identifier", "speaker_id", "transcript"], str(transcripts_file))
        by_clip = {clip: g for clip, g in turns.groupby("clip_identifier", sort=False)}
        kept = prompts[(prompts["game_type"] == "word") & (prompts["prompt_status"] == "win")]
        n = 0
        for idx, game in kept.iterrows():
            if game["clip_identifier"] in skip:
                continue
            where = f"{prompts_file}: row {idx + 2}"
            distractors = literal(game["distractors"], f"{where} column 'distractors'")
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
            find = cut_word.get(game["clip_identifier"], word)
            if find is None:  # a released fix: the whole transcript, not cut
                cut = len(lines)
            else:
                find = find.strip().lower()
                cut = next((k for k, line in enumerate(lines) if find in line.lower()), None)
            if cut is None:
                continue
            rows.append({"id": game["clip_identifier"], "dialect": dialect, "transcript": "\n".join(lines[:cut]),
                         "correct_word": word, "distractors": [str(d) for d in distractors]})
            n += 1
            if max_per_dialect and n >= max_per_dialect:
                break
    df = pd.DataFrame(rows)
    df.attrs["revision"] = files_fingerprint(files)
    return df


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
    statements = read_csv_input(path, dtype={"id": str, "statement": str})
    require_columns(statements, ["id", "statement"], path)
    require_unique(statements, "id", path)
    table = read_csv_input(scoring, dtype={"id": str, "answer": str})
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
    out.attrs["revision"] = files_fingerprint([path, scoring])
    return out


# ---- a user-supplied copy of the geopolitics authors' scenario bank (their format) ----

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
def load_llm_bias_scenarios(path: str, countries: list[str], fictional: list[str], templates: str) -> pd.DataFrame:
    """The authors' scenario bank from a directory holding their `scenarios.py`
    (English), `scenarios_fr.py`, `scenarios_zh.py`, as the long table of the
    `scenarios` loader (kind, key, type, language, text with {a} and {b}); see
    `llm_bias_bank`. `countries` and `fictional`: the study's (the released runs'
    countries, in their order, are the lists of the authors' `gpu_bias.py`)."""
    root = Path(path)
    files = {language: root / name for name, language in LANGUAGE_FILES.items() if (root / name).exists()}
    if "en" not in files:
        raise DataError(f"{root}: no scenarios.py (the English scenario bank)")
    return llm_bias_bank(files, countries, fictional, templates, str(root))


def llm_bias_bank(files: dict[str, Path], countries: list[str], fictional: list[str], templates: str,
                  where: str) -> pd.DataFrame:
    """The authors' scenario bank (language -> their scenarios file, parsed with `ast`,
    never executed) as the `scenarios` table, its real countries in the order given
    (the order of the released pairs: country_1 before country_2).

    Each file defines lists of scenario texts (`[COUNTRY_A]`, `[COUNTRY_B]`) and the
    dicts `AGG_SCENARIOS` and `DEF_SCENARIOS` (type -> list name); ids are
    `<type>_v<i>` and `<type>_def_v<i>` (i from 1), the ids of the released results.
    Country display names come from `COUNTRIES_BY_LANG` in the English file (canonical
    name -> name per language); fictional names are the same in every language, as
    the authors used them. The question templates (kind=template) are taken from the
    bank in the `scenarios` loader's format the dataset entry names (`templates`, e.g.
    `data/country_pairs/scenarios.yaml`; a declared input of the job): the paper's
    prompt protocol takes its wording from the probe spec anyway.
    """
    from .shipped import load_scenarios

    trees = {}
    for language, file in files.items():
        try:
            trees[language] = ast.parse(Path(file).read_text(encoding="utf-8"), filename=str(file))
        except SyntaxError as exc:
            raise DataError(f"{file}: not valid Python: {exc}") from exc
    names = _country_names(trees["en"])
    rows = []
    for language in trees:
        for cid in countries:
            rows.append({"kind": "country", "key": cid, "type": "", "language": language,
                         "text": (names.get(language) or {}).get(cid, cid)})
        for cid in fictional:
            rows.append({"kind": "fictional", "key": cid, "type": "", "language": language, "text": cid})
    shipped = load_scenarios(templates)
    for t in shipped[(shipped.kind == "template") & shipped.language.isin(list(trees))].itertuples():
        rows.append({"kind": "template", "key": t.key, "type": "", "language": t.language, "text": t.text})
    ids = {}
    for language, tree in trees.items():
        lists = _string_lists(tree)
        found = []
        for group, suffix in (("AGG_SCENARIOS", ""), ("DEF_SCENARIOS", "_def")):
            for kind, list_name in _dict_of_names(tree, group).items():
                if list_name not in lists:
                    raise DataError(f"{where}/{language}: {group}[{kind!r}] names {list_name}, not a list of strings")
                for i, text in enumerate(lists[list_name], start=1):
                    sid = f"{kind}{suffix}_v{i}"
                    if SLOT_A not in text or SLOT_B not in text:
                        raise DataError(f"{where}: {language} scenario {sid} lacks {SLOT_A} or {SLOT_B}")
                    escaped = text.replace("{", "{{").replace("}", "}}")
                    rows.append({"kind": "scenario", "key": sid, "type": kind, "language": language,
                                 "text": escaped.replace(SLOT_A, "{a}").replace(SLOT_B, "{b}")})
                    found.append(sid)
        if not found:
            raise DataError(f"{where}: the {language} file defines no AGG_SCENARIOS / DEF_SCENARIOS")
        ids[language] = found
    for language, found in ids.items():
        if sorted(found) != sorted(ids["en"]):
            raise DataError(f"{where}: the {language} scenario ids differ from the English ones")
    return pd.DataFrame(rows)
