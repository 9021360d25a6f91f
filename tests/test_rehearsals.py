"""Every seed study that runs models, rehearsed whole as its user runs it:
`snakemake --configfile config/studies/<study>.yaml config/rehearsals/<study>.yaml`, on
tiny random stand-ins of the study's model families (alignshift/stand_ins.yaml), to the
study's final targets and report. Protocol checks read what the jobs recorded
(results/prompts/<model>/<probe>.parquet), never specs built by hand."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, assert_figures_built, read_metrics, run_snakemake
from recorded_prompts import tokenizer_of

REHEARSALS = REPO / "config" / "rehearsals"


def rehearsal_workdir(root: Path) -> Path:
    """A directory laid out as the repository is where a user runs snakemake (the
    shipped data, studies, rehearsals and recipes), with its own results/, resources/ and
    config/locks/, so nothing a rehearsal writes lands in this checkout."""
    root.mkdir(parents=True, exist_ok=True)
    os.symlink(REPO / "data", root / "data")
    (root / "config").mkdir()
    for folder in ("studies", "rehearsals", "recipes"):
        os.symlink(REPO / "config" / folder, root / "config" / folder)
    return root


def rehearse(workdir: Path, study: str, *args: str, timeout: float = 2400, configs: tuple[str, ...] = ()):
    """The rehearsal as its user runs it; `configs`: further config files after the two
    (the machine's own settings, e.g. CFMatch off where neither conda nor qa-metrics is)."""
    files = [f"config/studies/{study}.yaml", f"config/rehearsals/{study}.yaml", *configs]
    result = run_snakemake(workdir, "--configfile", *files, "--cores", "2", *args, timeout=timeout)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-6000:])
    return result


def merged_config(study: str) -> tuple[dict, dict]:
    studied = yaml.safe_load((REPO / "config" / "studies" / f"{study}.yaml").read_text())
    rehearsal = yaml.safe_load((REHEARSALS / f"{study}.yaml").read_text())
    return studied, rehearsal


# the studies that put your models beside a paper's released ones (config/studies/<paper>-yours.yaml)
YOURS = ("geopolitics-yours", "global-representation-yours")


def test_every_study_that_runs_models_has_a_rehearsal_that_changes_only_ids_and_datasets():
    for study in ("geopolitics", "global-representation", "politune", "ideology-shift", *YOURS):
        studied, rehearsal = merged_config(study)
        assert set(rehearsal) <= {"models", "datasets", "released"}, study
        for name, entry in rehearsal.get("models", {}).items():
            assert name in studied["models"] and set(entry) == {"id"}, (study, name)
            assert entry["id"].startswith("stand-in:"), (study, name)
        # every model the study fetches is stood in for; models scored from their authors'
        # released outputs keep their `released` entry (only where the files come from changes)
        fetched = {name for name, entry in studied["models"].items() if not entry.get("released")}
        assert set(rehearsal.get("models", {})) == fetched, study
        for name, entry in rehearsal.get("datasets", {}).items():
            assert name in studied["datasets"], (study, name)
            assert set(entry) <= {"path", "repo", "manual", "base", "commit", "sha256"}, (study, name)
        # the released outputs: a local fixture, read as a commit of its own, checked against its own list
        if "released" in rehearsal:
            assert studied.get("released") and set(rehearsal["released"]) <= {"base", "commit", "sha256"}, study
            assert (REPO / rehearsal["released"]["base"]).is_dir(), study
            assert rehearsal["released"]["commit"] != studied["released"]["commit"], study
            assert (REPO / rehearsal["released"]["sha256"]).is_file(), study


# --- geopolitics (Bladon & Bent 2026) ----------------------------------------------------

@pytest.fixture(scope="module")
def geopolitics(tmp_path_factory):
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "geopolitics")
    rehearse(workdir, "geopolitics")
    report = run_snakemake(workdir, "--configfile", "config/studies/geopolitics.yaml",
                           "config/rehearsals/geopolitics.yaml", "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-4000:]
    return workdir


def recorded_prompts(workdir: Path, model: str, probe: str) -> pd.DataFrame:
    return pd.read_parquet(workdir / "results" / "prompts" / model / f"{probe}.parquet")


def test_geopolitics_rehearsal_builds_every_figure_and_the_report(geopolitics):
    studied, _ = merged_config("geopolitics")
    assert_figures_built(geopolitics, studied["figures"])
    assert (geopolitics / "results" / "report.html").stat().st_size > 100_000
    # every model was built from its family's stand-in and evaluated
    for model in studied["models"]:
        assert (geopolitics / "results" / "scores" / model / "country_pairs.parquet").exists()


def test_geopolitics_rehearsal_prompts_carry_the_papers_prefills(geopolitics):
    from transformers import AutoTokenizer

    def last_text(model):
        prompts = recorded_prompts(geopolitics, model, "country_pairs")
        manifest = yaml.safe_load((geopolitics / "resources" / "models" / model / "manifest.json").read_text())
        tok = AutoTokenizer.from_pretrained(manifest["path"])
        return prompts, tok

    # Yi-1.5 chat: the paper's "(" after the generation prompt; GLM-4 chat: "\n"
    for model, prefill in (("yi-1.5-9b-chat", "("), ("glm-4-9b-chat", "\n")):
        prompts, tok = last_text(model)
        tail = tok(prefill, add_special_tokens=False)["input_ids"]
        assert len(prompts) > 0
        for ids in prompts["token_ids"]:
            assert list(ids[-len(tail):]) == tail, model
        assert prompts["prompt"].str.endswith(prefill).all(), model
    # a chat model without a prefill ends with its generation prompt, not a prefill
    prompts, _ = last_text("mistral-7b-instruct")
    assert prompts["prompt"].str.endswith("[/INST]").all()
    # base models: the worked examples, then the item's "Answer: (" in the prompt's language
    cue = {"en": "Answer: (", "fr": "Réponse : (", "zh": "答案：("}
    for model in ("mistral-7b", "qwen2.5-7b", "glm-4-9b", "baichuan2-7b"):
        prompts, _ = last_text(model)
        scores = pd.read_parquet(geopolitics / "results" / "scores" / model / "country_pairs.parquet")
        languages = scores.drop_duplicates("prompt_hash").set_index("prompt_hash")["language"]
        assert set(prompts["prompt_hash"]) == set(languages.index), model
        for text, language in zip(prompts["prompt"], prompts["prompt_hash"].map(languages)):
            assert text.endswith(cue[language]), (model, language, text[-40:])


# --- your models beside the paper's (config/studies/<paper>-yours.yaml) ------------------

def test_the_yours_fixtures_are_what_their_generator_writes(tmp_path):
    import yours_fixtures

    yours_fixtures.write_all(tmp_path)
    for study in YOURS:
        written = {p.relative_to(tmp_path / study): p.read_bytes() for p in (tmp_path / study).rglob("*") if p.is_file()}
        root = REPO / "data" / "rehearsals" / study
        shipped = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        assert sorted(written) == sorted(shipped), study
        assert [f for f in written if written[f] != shipped[f]] == [], study


def released_models(studied: dict) -> list[str]:
    return [name for name, entry in studied["models"].items() if entry.get("released")]


def assert_released_and_live(workdir: Path, study: str, probe: str) -> tuple[list[str], list[str]]:
    """The paper's models' scores came from the fixture's released files (checked against
    its checksum list, never fetched), the others' from an evaluation of their stand-in."""
    from alignshift.data.released import read_checksums
    from alignshift.provenance import read_provenance

    studied, rehearsal = merged_config(study)
    listed = read_checksums(REPO / rehearsal["released"]["sha256"])
    released = released_models(studied)
    live = [name for name in studied["models"] if name not in released]
    for name in released:
        provenance = read_provenance(workdir / "results" / "scores" / name / f"{probe}.parquet")
        assert provenance["source"] == "released" and provenance["commit"] == "rehearsal", name
        assert all(f["sha256"] == listed[f["path"]] for f in provenance["files"]), name
        assert bool(provenance["files"]) == (probe in studied["models"][name]["released"]["files"]), name
        assert not (workdir / "resources" / "models" / name).exists(), name
    for name in live:
        manifest = json.loads((workdir / "resources" / "models" / name / "manifest.json").read_text())
        assert manifest["family"] == "olmo-2", name
        assert (workdir / "results" / "prompts" / name / f"{probe}.parquet").exists(), name
    return released, live


def recorded_by_variant(workdir: Path, model: str, probe: str) -> pd.DataFrame:
    """A model's score rows, one per (item, variant), with the prompt each was scored on."""
    scores = pd.read_parquet(workdir / "results" / "scores" / model / f"{probe}.parquet")
    first = scores.drop_duplicates(["item", "variant"])
    return first.merge(recorded_prompts(workdir, model, probe), on="prompt_hash", how="left", validate="m:1")


@pytest.fixture(scope="module")
def geopolitics_yours(tmp_path_factory):
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "geopolitics-yours")
    rehearse(workdir, "geopolitics-yours")
    return workdir


@pytest.mark.slow
def test_geopolitics_yours_draws_the_papers_models_and_yours_in_every_table_and_figure(geopolitics_yours):
    from yours_fixtures import GEO_COHERENT

    studied, _ = merged_config("geopolitics-yours")
    assert_figures_built(geopolitics_yours, studied["figures"])
    released, live = assert_released_and_live(geopolitics_yours, "geopolitics-yours", "country_pairs")
    assert len(released) == 14 and live == ["olmo-2-7b", "olmo-2-7b-instruct"]
    favourability = read_metrics(geopolitics_yours, "country_pairs_favourability")
    for filt in ("none", "consistent"):
        assert set(favourability.loc[favourability["filter"] == filt, "model"]) == set(studied["models"]), filt
    # your pair is a lab of the maker test beside the paper's seven, chat against its own base
    maker = read_metrics(geopolitics_yours, "country_pairs_maker").set_index(["filter", "lab"])
    assert len(maker.loc["consistent"]) == 8
    assert tuple(maker.loc[("consistent", "AI2"), ["base", "model", "sign"]]) == ("olmo-2-7b", "olmo-2-7b-instruct", -1)
    # the coherence filter counts the paper's models' cells only (14 models x 3 languages):
    # the kept scenarios are the paper's, whatever your models answer
    coherence = read_metrics(geopolitics_yours, "country_pairs_coherence")
    assert set(coherence["n_cells"]) == {42}
    assert sorted(coherence.loc[coherence["kept"], "scenario"]) == sorted(GEO_COHERENT)


@pytest.mark.slow
def test_geopolitics_yours_asks_your_models_the_released_items_in_the_papers_prompts(geopolitics_yours):
    """Every released row (pair, scenario, language, question) is an item of your models,
    asked in both role orders and both option orders; each prompt is what `protocol: paper`
    builds from that row's scenario as the authors' code fills it in ([COUNTRY_A] and
    [COUNTRY_B] replaced by the language's names), chat-templated and encoded as theirs."""
    from alignshift.data.released import read_released
    from alignshift.probes import resolve_spec
    from alignshift.probes.country_pairs.items import paper_text
    from yours_fixtures import GEO, GEO_NAMES, GEO_SCENARIOS, geo_released_files

    studied, _ = merged_config("geopolitics-yours")
    released, live = released_models(studied), ["olmo-2-7b", "olmo-2-7b-instruct"]
    items = {name: set(pd.read_parquet(geopolitics_yours / "results" / "scores" / name / "country_pairs.parquet")["item"])
             for name in studied["models"]}
    # 3 languages x 4 scenarios x (3 real + 3 fictional pairs) x 2 questions, the same for every model
    assert {len(v) for v in items.values()} == {144} and all(items[m] == items[released[0]] for m in items)
    spec = resolve_spec("country_pairs", studied["probes"]["country_pairs"])
    texts = {(f"{kind}{'_def' if role == 'def' else ''}_v{i}", lang): text
             for (kind, role), by_lang in GEO_SCENARIOS.items() for lang, texts in by_lang.items()
             for i, text in enumerate(texts, start=1)}
    results = GEO / "country_bias_pilot" / "results"
    rows = pd.concat([read_released(results / path, "qwen2.5-7b-instruct", path.split("/")[0].rsplit("_", 1)[-1]
                                    if path.split("/")[0][-3:] in ("_fr", "_zh") else "en", "fictional" in path)
                      for path in geo_released_files(studied)["qwen2.5-7b-inst"]], ignore_index=True)
    assert len(rows) == 144 and set(rows["item"]) == items["olmo-2-7b"]
    for model, chat in zip(live, (False, True)):
        tok = tokenizer_of(geopolitics_yours, model)
        prompts = recorded_by_variant(geopolitics_yours, model, "country_pairs").set_index(["item", "variant"])
        assert len(prompts) == 4 * 144 and prompts["given_as"].eq("token_ids").all()
        for row in rows.itertuples():
            name = lambda c: GEO_NAMES[row.language].get(c, c)  # noqa: E731 (fictional names as they are)
            for first, second in ((row.x, row.y), (row.y, row.x)):  # who fills [COUNTRY_A]
                scenario = texts[row.scenario, row.language].replace("[COUNTRY_A]", name(first)) \
                    .replace("[COUNTRY_B]", name(second))
                for a, b in ((row.x, row.y), (row.y, row.x)):  # who is (A)
                    user = paper_text(spec, row.language, row.question, scenario, name(a), name(b), chat)
                    if chat:
                        text = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                       add_generation_prompt=True)
                        ids = tok.encode(text, add_special_tokens=False)
                    else:
                        text, ids = user, tok.encode(user)
                    got = prompts.loc[(row.item, f"a={first};A={a}")]
                    assert list(got["token_ids"]) == ids and got["prompt"] == text, (model, row.item, first, a)
        if chat:  # the Tulu-3 template, opened by OLMo-2's <|endoftext|>, no prefill
            assert prompts["prompt"].str.startswith("<|endoftext|><|user|>\n").all()
            assert prompts["prompt"].str.endswith("\n<|assistant|>\n").all()


@pytest.fixture(scope="module")
def global_yours(tmp_path_factory):
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "global-representation-yours")
    # no conda and no qa-metrics here: TyDiQA by SQuAD F1 (the study's documented setting for that)
    (workdir / "no-cfmatch.yaml").write_text("probes: {extractive_qa: {cfmatch: {enabled: false}}}\n")
    rehearse(workdir, "global-representation-yours", configs=(str(workdir / "no-cfmatch.yaml"),))
    return workdir


@pytest.mark.slow
def test_global_representation_yours_draws_the_papers_models_and_yours_in_every_table_and_figure(global_yours):
    studied, _ = merged_config("global-representation-yours")
    assert_figures_built(global_yours, studied["figures"])
    released, live = assert_released_and_live(global_yours, "global-representation-yours", "opinions")
    lms = [m for m in released if studied["models"][m].get("kind") != "reward_model"]
    assert len(lms) == 13 and live == ["olmo-2-7b", "olmo-2-7b-instruct"]
    for probe in ("opinions", "country_rank", "dialect_intent", "extractive_qa"):
        table = read_metrics(global_yours, probe)
        expected = set(lms + live) | ({"starling-rm-7b-alpha"} if probe == "country_rank" else set())
        assert set(table["model"]) == expected, probe
        # each chat model against its own parent: the paper's and yours alike
        by_model = table.groupby("model")["delta"].apply(lambda d: d.notna().any())
        assert by_model["olmo-2-7b-instruct"] and by_model["llama-2-7b-chat"] and not by_model["olmo-2-7b"], probe
    # Belebele's outputs were not released: only your models have its scores
    assert set(read_metrics(global_yours, "mcqa")["model"]) == set(live)
    reference = read_metrics(global_yours, "country_rank_reference")
    assert {"olmo-2-7b-instruct", "starling-rm-7b-alpha", "llama-2-7b"} <= set(reference["model"])


@pytest.mark.slow
def test_global_representation_yours_asks_your_models_the_released_items_in_the_released_prompts(global_yours):
    from yours_fixtures import GR

    studied, _ = merged_config("global-representation-yours")
    release = GR / "release"
    files = studied["models"]["llama-2-7b-chat"]["released"]["files"]

    def scored(model, probe):
        return recorded_by_variant(global_yours, model, probe)

    for model in ("olmo-2-7b", "olmo-2-7b-instruct"):
        # the paper's language-model tasks have no answer cue (where_from, the reward model's task,
        # reads a language model with the project's own prompt: not the paper's)
        tasks = ("opinions", "country_rank", "mcqa", "extractive_qa", "dialect_intent")
        prompts = pd.concat([recorded_prompts(global_yours, model, p) for p in tasks])
        assert not prompts["prompt"].str.contains("\nAnswer:").any(), model
        # GlobalOpinionsQA: the released questions (those asked in all seven countries), the released prompt
        opinions = pd.read_csv(release / files["opinions"])
        live = scored(model, "opinions").set_index("item")
        assert set(live.index) == set(pd.read_parquet(global_yours / "results" / "scores" / "llama-2-7b-chat" /
                                                      "opinions.parquet")["item"])
        for item in live.index.unique():
            row = opinions.iloc[int(item[1:])]
            options = "".join(f"\n({chr(65 + k)}) {o}" for k, o in enumerate(ast.literal_eval(row["options"])))
            assert live.loc[[item], "prompt"].iloc[0] == (
                f"Human: {row['question']}\n\nHere are the options:{options}\n\nAssistant: If I had to select one of "
                "the options, my answer would be ("), (model, item)
        # AskReddit: every released question as the released script wrote it, (prompt + " " + the
        # response's words before the country).strip(); the base plain, the chat model templated
        askreddit = pd.read_csv(release / files["country_rank"])
        live = scored(model, "country_rank").set_index("item")
        assert sorted(live.index.unique()) == [f"ar{i:03d}" for i in range(len(askreddit))]
        tok = tokenizer_of(global_yours, model)
        for item in live.index.unique():
            row = askreddit.iloc[int(item[2:])]
            question = row["Question"]
            if model == "olmo-2-7b-instruct":
                question = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                   add_generation_prompt=True)
            words = row["Response Format"].split("{country}")[0].strip()
            assert live.loc[[item], "prompt"].iloc[0] == f"{question} {words}".strip(), (model, item)
        # TyDiQA: the authors' gold questions, 1-shot plain text ending "Extracted Answer:"
        live = scored(model, "extractive_qa").set_index("item")
        gold = {qa["id"]: qa["question"] for path in (release / "data" / "tydiqa").rglob("*.json")
                for article in json.loads(path.read_text(encoding="utf-8"))["data"]
                for para in article["paragraphs"] for qa in para["qas"]}
        assert set(live.index) == set(gold)
        for item, question in gold.items():
            prompt = live.loc[item, "prompt"]
            assert prompt.startswith("Please answer the following questions") and \
                prompt.endswith(f"Question: {question}\nExtracted Answer:"), (model, item)
        # MD3: the released games (dialect, word and transcript), in the released prompt
        md3 = pd.read_csv(release / files["dialect_intent"], keep_default_na=False)
        live = scored(model, "dialect_intent")
        assert sorted(zip(live["dialect"], live["correct_word"])) == sorted(zip(md3["dialect"], md3["correct_answer"]))
        for game in md3.itertuples():
            assert live["prompt"].str.endswith(f'Transcript: "{game.transcript}"\n\nSecret Word:').any(), game
