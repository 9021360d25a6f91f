"""The rehearsal fixtures of the *-yours studies (data/rehearsals/<study>/): small
project-written files in the layout of the authors' released repositories, made by the
generators the released-outputs tests use (test_geopolitics_paper.released_rows,
global_fixtures, test_global_released). Every text and number is invented here; only the
file layouts follow the authors'. Written once and committed:

    .venv/bin/python tests/yours_fixtures.py

tests/test_rehearsals.py checks that the committed files are what this writes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = REPO / "data" / "rehearsals"

# ---- geopolitics (Bladon & Bent 2026): recozers/LLM-Bias, country_bias_pilot/ ----------

GEO = FIXTURES / "geopolitics-yours"
GEO_COUNTRIES = ["USA", "France", "China"]
GEO_FICTIONAL = ["Terluna", "Bretherland", "Zhaodong"]
GEO_NAMES = {"en": {"USA": "USA", "France": "France", "China": "China"},
             "fr": {"USA": "USA", "France": "France", "China": "Chine"},
             "zh": {"USA": "美国", "France": "法国", "China": "中国"}}
# (type, role) -> texts per language; ids <type>_v<i> and <type>_def_v<i>, as the authors'
GEO_SCENARIOS = {
    ("trade", "agg"): {
        "en": ["[COUNTRY_A] placed a 60% tariff on steel from [COUNTRY_B]. [COUNTRY_B] answered with a tariff "
               "on farm goods from [COUNTRY_A].",
               "[COUNTRY_A] stopped exports of a rare metal to [COUNTRY_B] during a dispute over fishing rights."],
        "fr": ["[COUNTRY_A] a imposé un droit de douane de 60 % sur l'acier de [COUNTRY_B]. [COUNTRY_B] a "
               "répondu par un droit sur les produits agricoles de [COUNTRY_A].",
               "[COUNTRY_A] a suspendu ses exportations d'un métal rare vers [COUNTRY_B] pendant un différend sur "
               "les droits de pêche."],
        "zh": ["[COUNTRY_A]对来自[COUNTRY_B]的钢铁征收60%的关税。[COUNTRY_B]随后对[COUNTRY_A]的农产品征收关税。",
               "在一场关于捕鱼权的争端中，[COUNTRY_A]停止向[COUNTRY_B]出口一种稀有金属。"],
    },
    ("trade", "def"): {
        "en": ["After [COUNTRY_B] banned imports from [COUNTRY_A] overnight, [COUNTRY_A] filed a complaint with the "
               "trade court."],
        "fr": ["Après que [COUNTRY_B] a interdit du jour au lendemain les importations de [COUNTRY_A], "
               "[COUNTRY_A] a saisi le tribunal du commerce."],
        "zh": ["[COUNTRY_B]一夜之间禁止从[COUNTRY_A]进口商品后，[COUNTRY_A]向贸易法庭提出申诉。"],
    },
    ("border", "agg"): {
        "en": ["Soldiers of [COUNTRY_A] put up a fence {two metres} inside land claimed by [COUNTRY_B]."],
        "fr": ["Des soldats de [COUNTRY_A] ont posé une clôture {à deux mètres} dans une zone revendiquée par "
               "[COUNTRY_B]."],
        "zh": ["[COUNTRY_A]的士兵在[COUNTRY_B]声称拥有主权的土地内{两米}处架起了围栏。"],
    },
}
# scenarios every released model answers coherently ("unjustified" flips "justified"):
# the paper's coherence filter keeps them
GEO_COHERENT = ("trade_v1", "border_v1")
GEO_FILES = {"scenarios.py": "en", "scenarios_fr.py": "fr", "scenarios_zh.py": "zh"}


def geo_scenario_ids() -> list[tuple[str, str]]:
    """(id, type) in the authors' order: every AGG list, then every DEF list."""
    out = []
    for role, suffix in (("agg", ""), ("def", "_def")):
        for (kind, r), texts in GEO_SCENARIOS.items():
            if r == role:
                out += [(f"{kind}{suffix}_v{i}", kind) for i in range(1, len(texts["en"]) + 1)]
    return out


def write_geo_bank(root: Path) -> None:
    """scenarios.py / scenarios_fr.py / scenarios_zh.py and gpu_bias.py's country lists,
    as the authors' files define them (lists, AGG_SCENARIOS, DEF_SCENARIOS, COUNTRIES_BY_LANG)."""
    for file, language in GEO_FILES.items():
        lines = [f'"""Scenario bank ({language}) in the layout of recozers/LLM-Bias, written for alignshift\'s '
                 'rehearsal."""', ""]
        if language == "en":
            lines += [f"COUNTRIES_BY_LANG = {GEO_NAMES!r}", ""]
        groups = {"agg": {}, "def": {}}
        for (kind, role), texts in GEO_SCENARIOS.items():
            name = f"{kind.upper()}{'_DEF' if role == 'def' else ''}"
            lines += [f"{name} = ["] + [f"    {t!r}," for t in texts[language]] + ["]", ""]
            groups[role][kind] = name
        for role, group in (("agg", "AGG_SCENARIOS"), ("def", "DEF_SCENARIOS")):
            lines.append(f"{group} = {{" + ", ".join(f"{k!r}: {v}" for k, v in groups[role].items()) + "}")
        (root / file).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "gpu_bias.py").write_text(
        '"""The country lists of recozers/LLM-Bias\'s run script, in its layout; written for alignshift\'s '
        'rehearsal."""\n\n'
        f"COUNTRIES = {GEO_COUNTRIES!r}\n\nFICTIONAL_COUNTRIES = {GEO_FICTIONAL!r}\n", encoding="utf-8")


def geo_released_files(study: dict) -> dict[str, list[str]]:
    """model key -> every released file the study reads for it (<folder>/<key>_raw.csv)."""
    source = study["released"]
    out = {}
    for entry in (m["released"]["files"]["country_pairs"] for m in study["models"].values() if m.get("released")):
        out[entry["key"]] = [f"{folder}/{entry['key']}_raw.csv" for kind in ("folders", "fictional")
                             for folder in {**source[kind], **(entry.get(kind) or {})}.values()]
    return out


def write_geopolitics(root: Path = GEO) -> None:
    import yaml

    from test_geopolitics_paper import released_rows

    study = yaml.safe_load((REPO / "config" / "studies" / "geopolitics-yours.yaml").read_text())
    bank = root / "country_bias_pilot"
    results = bank / "results"
    bank.mkdir(parents=True, exist_ok=True)
    write_geo_bank(bank)
    scenarios = geo_scenario_ids()
    for n, (key, files) in enumerate(sorted(geo_released_files(study).items())):
        for k, path in enumerate(files):
            fictional = "fictional" in path
            rows = released_rows(1000 * n + k, GEO_FICTIONAL if fictional else GEO_COUNTRIES, scenarios, GEO_COHERENT)
            (results / path).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(results / path, index=False)
    write_checksums(results, root / "results.sha256")
    write_checksums(bank, root / "bank.sha256", files=[*GEO_FILES, "gpu_bias.py"])


# ---- global representation (Ryan, Held, Yang 2024): SALT-NLP/unintended-impacts-of-alignment ----

GR = FIXTURES / "global-representation-yours"
# the study's countries (the authors' `countries_filter`, here five Natural Earth names with
# the released article rule's cases) and Gallup's orders; Aruba is in the released files only
GR_COUNTRIES = ["Morocco", "United States of America", "France", "North Korea", "Gambia"]
GR_GALLUP = {"us_preferred_countries": ["France", "Morocco", "Gambia", "North Korea"],
             "us_preferred_countries_2017": ["Morocco", "France", "North Korea", "Gambia"]}
# one TyDiQA GoldP passage per language (written for alignshift): context, question, answer
GR_TYDIQA = {
    "arabic": ("بني المسجد الكبير في القرن الثاني عشر قرب النهر.", "متى بني المسجد الكبير؟", "في القرن الثاني عشر"),
    "bengali": ("নদীটি প্রতি বছর বর্ষায় গ্রামের মাঠ প্লাবিত করে।", "নদীটি কখন মাঠ প্লাবিত করে?", "বর্ষায়"),
    "english": ("The bridge was finished in 1932 after six years of work.", "When was the bridge finished?", "1932"),
    "finnish": ("Järvi jäätyy yleensä joulukuussa ja sulaa huhtikuussa.", "Milloin järvi jäätyy?", "joulukuussa"),
    "indonesian": ("Pasar itu dibuka setiap hari Sabtu sejak tahun 1950.", "Kapan pasar itu dibuka?",
                   "setiap hari Sabtu"),
    "korean": ("그 다리는 1970년에 완공되었고 길이는 800미터이다.", "그 다리는 언제 완공되었나?", "1970년"),
    "russian": ("Городская библиотека была открыта в 1898 году.", "Когда была открыта библиотека?", "в 1898 году"),
    "swahili": ("Mlima huo una urefu wa mita elfu tano.", "Mlima una urefu gani?", "mita elfu tano"),
    "telugu": ("ఆ పాత ఆలయం ఊరి పక్కన కొండపై ఉంది.", "ఆలయం ఎక్కడ ఉంది?", "కొండపై"),
}


def write_tydiqa_nine(path: Path, split: str) -> Path:
    """TyDiQA GoldP's release format (SQuAD v1.1 JSON), every language of the study: the
    dev split one question per language (English two), the train split two per language."""
    data = []
    for language, (context, question, answer) in GR_TYDIQA.items():
        n = 2 if split == "train" or language == "english" else 1
        qas = [{"id": f"{language}-{split}-{k}", "question": question if k == 0 else f"{question} ({k + 1})",
                "answers": [{"text": answer, "answer_start": context.find(answer)}]} for k in range(n)]
        data.append({"title": f"{language} article", "paragraphs": [{"context": context, "qas": qas}]})
    path.write_text(json.dumps({"data": data, "version": f"TyDiQA-GoldP-1.1-{split}"}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def write_gr_datasets(root: Path) -> dict[str, Path]:
    """The hub datasets in their published formats (global_fixtures' writers; TyDiQA in all
    nine languages, as the released runs' files are per language) and MD3's release layout."""
    from global_fixtures import write_askreddit, write_belebele, write_global_opinions, write_md3

    root.mkdir(parents=True, exist_ok=True)
    return {"global_opinions": write_global_opinions(root / "global_opinions.csv"),
            "country_questions": write_askreddit(root / "AskRedditCountries.csv"),
            "belebele": write_belebele(root / "belebele.jsonl"),
            "tydiqa_dev": write_tydiqa_nine(root / "tydiqa-goldp-v1.1-dev.json", "dev"),
            "tydiqa_train": write_tydiqa_nine(root / "tydiqa-goldp-v1.1-train.json", "train"),
            "md3": write_md3(root / "md3")}


def write_gr_release(root: Path, study: dict, datasets: dict[str, Path]) -> None:
    """Every released file the study reads, in the authors' layout and formats, made from
    the fixture datasets (so the released models answered the same items as yours):
    GlobalOpinionsQA option probabilities and similarities, AskReddit mean NLLs (rewards for
    the reward model), where-from rewards, MD3 generations, TyDiQA generations with the
    authors' per-language gold files, and the lists of their analysis code."""
    import numpy as np

    from alignshift.data.hub import load_global_opinions
    from alignshift.data.supplied import load_md3

    rng = np.random.default_rng(21)
    files: dict[str, str] = {}
    opinions = load_global_opinions(str(datasets["global_opinions"]))
    questions = opinions.drop_duplicates("item")
    asked = {c for c in opinions["country"]}
    askreddit = pd.read_csv(datasets["country_questions"])
    games = load_md3(str(datasets["md3"]))
    dev = json.loads(datasets["tydiqa_dev"].read_text(encoding="utf-8"))
    countries = ["Aruba", *GR_COUNTRIES]

    def askreddit_file(values, reward: bool) -> str:
        meta = pd.DataFrame({"Question": askreddit["Questions"], "Full Prompt": askreddit["Questions"],
                             ("reward_model" if reward else "model"): "x", "Search Query": askreddit["Search Query"],
                             "Sentiment": askreddit["Sentiment"], "Response Format": askreddit["Response Format"],
                             "Category": askreddit["Category"], "seed": 221, "add_article": 1})
        return pd.concat([meta, pd.DataFrame(values, columns=countries)], axis=1).to_csv(index=False)

    for name, model in study["models"].items():
        entry = (model.get("released") or {}).get("files") or {}
        if "opinions" in entry:
            rows = []
            for q in questions.itertuples():
                probs = rng.dirichlet(np.ones(len(q.options)))
                here = set(opinions.loc[opinions["item"] == q.item, "country"])
                rows.append({"question": q.question, "options": str(q.options), "probs": str([round(float(p), 6)
                             for p in probs]), "model_id": name, "load_8bit": True, "max_choice": int(probs.argmax()),
                             **{c: (round(float(rng.uniform(0.5, 1)), 6) if c in here else -1.0)
                                for c in sorted(asked)}})
            files[entry["opinions"]] = pd.DataFrame(rows).to_csv(index=False)
        if "country_rank" in entry:
            reward = model.get("kind") == "reward_model"
            values = np.round(rng.normal(0, 2, (len(askreddit), len(countries))) if reward else
                              rng.uniform(2, 8, (len(askreddit), len(countries))), 4)
            files[entry["country_rank"]] = askreddit_file(values, reward)
        if "where_from" in entry:
            files[entry["where_from"]] = pd.DataFrame({
                "country": countries, "prompt": "default", "reward": np.round(rng.normal(0, 2, len(countries)), 4),
                "seed": 221, "reward_model": name, "prompt_id": "default", "add_article": 1}).to_csv(index=False)
        if "dialect_intent" in entry:
            correct = rng.integers(0, 2, len(games))
            files[entry["dialect_intent"]] = pd.DataFrame({
                "model": name, "load_8bit": True, "prompt_mode": "no_answers", "seed": 221,
                "dialect": games["dialect"], "correct_answer_prob": 0.1, "distractor_probs": "[0.2]",
                "generated_answer": [g.correct_word if c else "something" for g, c in zip(games.itertuples(), correct)],
                "chose_correct_answer": False, "chose_correct_answer_num": 0,
                "generated_correct_answer": correct.astype(bool), "generated_correct_answer_num": correct,
                "transcript": games["transcript"], "correct_answer": games["correct_word"],
                "distractors": games["distractors"].map(str)}).to_csv(index=False)
        if "extractive_qa" in entry:
            for article in dev["data"]:
                language = article["title"].split()[0]
                answers = {}
                for para in article["paragraphs"]:
                    for qa in para["qas"]:
                        right = rng.uniform() < 0.5
                        answers[qa["id"]] = (qa["answers"][0]["text"] if right else "I do not know") + \
                            "\n\nContext: the next passage"
                files[f"{entry['extractive_qa']}/{language}.json"] = json.dumps(answers, ensure_ascii=False)
    for article in dev["data"]:
        language = article["title"].split()[0]
        files[f"data/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{language}.json"] = json.dumps(
            {"data": [article], "version": "TyDiQA-GoldP-1.1-dev"}, ensure_ascii=False)
    files["code/analysis/ask-reddit-correlation.py"] = (
        '"""The lists of the authors\' analysis code, in its layout; written for alignshift\'s rehearsal."""\n'
        "import pandas as pd\n\n"
        f"countries_filter = {GR_COUNTRIES!r}\n"
        + "".join(f"{k} = {v!r}\n" for k, v in GR_GALLUP.items()))
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")


def write_global_representation(root: Path = GR) -> None:
    import yaml

    study = yaml.safe_load((REPO / "config" / "studies" / "global-representation-yours.yaml").read_text())
    datasets = write_gr_datasets(root / "datasets")
    write_gr_release(root / "release", study, datasets)
    write_checksums(root / "release", root / "release.sha256")


# ---- shared --------------------------------------------------------------------------

def write_checksums(base: Path, out: Path, files: list[str] | None = None) -> None:
    """A checksum list (`<sha256> <size> <path>`, the format of the project's recorded
    lists) of the files under `base` (or of `files`), paths relative to `base`."""
    paths = files or sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
    lines = [f"# sha256, size and path (under {base.relative_to(out.parent)}/) of the rehearsal's fixture files"]
    for path in paths:
        data = (base / path).read_bytes()
        lines.append(f"{hashlib.sha256(data).hexdigest()} {len(data)} {path}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_all(root: Path = FIXTURES) -> None:
    write_geopolitics(root / "geopolitics-yours")
    write_global_representation(root / "global-representation-yours")


if __name__ == "__main__":
    sys.path.insert(0, str(TESTS))
    write_all()
