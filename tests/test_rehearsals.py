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

from browser import CHROMIUM, open_report, screenshot
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


def rehearse(workdir: Path, study: str, *args: str, more_config: list[Path] = (), env: dict | None = None,
             timeout: float = 2400):
    """`snakemake --configfile config/studies/<study>.yaml config/rehearsals/<study>.yaml
    --cores 2 <args>` in `workdir`, as a user runs it (`more_config`: files layered after
    the rehearsal, for what this machine lacks), then `--report`."""
    files = [f"config/studies/{study}.yaml", f"config/rehearsals/{study}.yaml", *map(str, more_config)]
    result = run_snakemake(workdir, "--configfile", *files, "--cores", "2", *args, env=env, timeout=timeout)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-6000:])
    if not any(not a.startswith("-") for a in args):  # the whole study: its report too
        report = run_snakemake(workdir, "--configfile", *files, *[a for a in args if a.startswith("--conda")],
                               "--report", "results/report.html", env=env, timeout=600)
        assert report.returncode == 0, report.stderr[-4000:]
        assert (workdir / "results" / "report.html").stat().st_size > 100_000
    return result


def merged_config(study: str) -> tuple[dict, dict]:
    studied = yaml.safe_load((REPO / "config" / "studies" / f"{study}.yaml").read_text())
    rehearsal = yaml.safe_load((REHEARSALS / f"{study}.yaml").read_text())
    return studied, rehearsal


def assert_figures_paper_ready(workdir: Path, study: str) -> None:
    """Every figure the study lists, drawn from the rehearsal's computed tables, reads at
    a paper's width (tests/figure_checks.py): at most 7 in wide, no text under 7 pt, no
    overlapping text, nothing off the canvas."""
    from figure_checks import assert_paper_ready

    studied, _ = merged_config(study)
    assert_paper_ready(workdir, studied["figures"])


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
def rehearsed_geopolitics(tmp_path_factory):
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "geopolitics")
    rehearse(workdir, "geopolitics")
    return workdir


def recorded_prompts(workdir: Path, model: str, probe: str) -> pd.DataFrame:
    return pd.read_parquet(workdir / "results" / "prompts" / model / f"{probe}.parquet")


def test_geopolitics_rehearsal_builds_every_figure_and_the_report(rehearsed_geopolitics):
    geopolitics = rehearsed_geopolitics
    studied, _ = merged_config("geopolitics")
    assert_figures_built(geopolitics, studied["figures"])
    # every model was built from its family's stand-in and evaluated
    for model in studied["models"]:
        assert (geopolitics / "results" / "scores" / model / "country_pairs.parquet").exists()


def test_geopolitics_rehearsal_figures_read_at_a_papers_width(rehearsed_geopolitics):
    assert_figures_paper_ready(rehearsed_geopolitics, "geopolitics")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's chromium (.ci/run does, as root)")
def test_geopolitics_rehearsal_report_opens_in_a_browser_with_every_figure_and_table(rehearsed_geopolitics,
                                                                                    tmp_path):
    report = rehearsed_geopolitics / "results" / "report.html"
    state = open_report(report, tmp_path)
    assert state["errors"] == [], state["errors"]
    assert not [line for line in state["console"] if "Uncaught" in line or "ERROR:CONSOLE" in line]
    # the report app rendered its menu: the figures' category and the metrics tables'
    assert {"Geopolitics", "Metrics"} <= set(state["app"].split("\n"))
    studied, _ = merged_config("geopolitics")
    shown = state["results"]
    figures = {path: seen for path, seen in shown.items() if path.startswith("results/figures/")}
    assert set(figures) == {f"results/figures/{name}.png" for name in studied["figures"]}
    for path, seen in figures.items():  # decoded by the browser, at most two columns at 300 dpi
        assert 0 < seen.get("width", 0) <= 7 * 300 and seen["height"] > 0, (path, seen)
    tables = {path: seen for path, seen in shown.items() if path.startswith("results/report/tables/")}
    written = {str(p.relative_to(rehearsed_geopolitics)) for p in (rehearsed_geopolitics / "results" / "report"
                                                                   / "tables").glob("*.html")}
    assert set(tables) == written and written
    for path, seen in tables.items():
        assert seen.get("rows", 0) > 1, (path, seen)
    shot = screenshot(report, tmp_path / "report-first-page.png", tmp_path)
    print(f"the report's first page: {shot}")
    assert shot.stat().st_size > 10_000


def test_geopolitics_rehearsal_prompts_carry_the_papers_prefills(rehearsed_geopolitics):
    geopolitics = rehearsed_geopolitics
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


def test_geopolitics_rehearsal_shift_is_chat_minus_base_favourability(rehearsed_geopolitics):
    workdir = rehearsed_geopolitics
    fav = read_metrics(workdir, "country_pairs").set_index(["model", "country", "language"])
    shift = read_metrics(workdir, "country_pairs_shift")
    unfiltered = shift[shift["filter"] == "none"]
    # 7 labs x the bank's countries x (all + 3 languages)
    assert len(unfiltered) == 7 * unfiltered["country"].nunique() * 4 and unfiltered["lab"].nunique() == 7
    for row in unfiltered.itertuples():
        chat, base = fav.loc[(row.model, row.country, row.language)], fav.loc[(row.base, row.country, row.language)]
        assert row.base_favourability == pytest.approx(base.favourability, abs=1e-9)
        assert row.chat_favourability == pytest.approx(chat.favourability, abs=1e-9)
        assert row.shift == pytest.approx(chat.favourability - base.favourability, abs=1e-9)
        assert row.shift == pytest.approx(chat.delta, abs=1e-9)  # the probe's own paired delta agrees
        assert row.shift_ci_low <= row.shift <= row.shift_ci_high
        assert row.n_items == base.n_items


def raw_item_score(scores: pd.DataFrame, item: str) -> float:
    """The item's score straight from the score table: per prompt, log of the summed
    probability of x's letter forms minus y's, averaged over the four prompts."""
    import numpy as np

    rows = scores[scores["item"] == item]
    x, y = rows["x"].iloc[0], rows["y"].iloc[0]
    per_prompt = []
    for _, prompt in rows.groupby("variant"):
        lx = np.logaddexp.reduce(prompt.loc[prompt["country"] == x, "logprob_sum"].to_numpy())
        ly = np.logaddexp.reduce(prompt.loc[prompt["country"] == y, "logprob_sum"].to_numpy())
        per_prompt.append(lx - ly)
    assert len(per_prompt) == 4
    return float(np.mean(per_prompt)) * (-1 if rows["question"].iloc[0] == "less" else 1)


def test_geopolitics_rehearsal_tables_are_the_papers_statistics_of_the_scores(rehearsed_geopolitics):
    import numpy as np
    import scipy.stats as st

    from alignshift import stats
    from alignshift.probes import resolve_spec
    from alignshift.probes.country_pairs import metrics as cp

    workdir = rehearsed_geopolitics
    studied, _ = merged_config("geopolitics")
    # a pair's log-odds: the mean over its "more justifiably" items of the four prompts' log-odds
    pairs = read_metrics(workdir, "country_pairs_pairs").set_index(["filter", "model", "language", "country", "opponent"])
    scores = pd.read_parquet(workdir / "results" / "scores" / "qwen2.5-7b" / "country_pairs.parquet")
    usa_china = scores[(scores["x"] == "USA") & (scores["y"] == "China")]
    assert usa_china["item"].nunique() == 2 * 3 * 2  # scenarios x languages x questions
    items = usa_china.loc[usa_china["question"] == "more", "item"].unique()
    expected = np.mean([raw_item_score(scores, item) for item in items])
    cell = pairs.loc[("none", "qwen2.5-7b", "all", "USA", "China")]
    assert cell.log_odds == pytest.approx(expected, abs=1e-9)
    assert pairs.loc[("none", "qwen2.5-7b", "all", "China", "USA")].log_odds == pytest.approx(-expected, abs=1e-9)
    # the coherence filter, the type tests (BH within each family) and the home-country sign test
    every = pd.concat(pd.read_parquet(p) for p in (workdir / "results" / "scores").rglob("country_pairs.parquet"))
    spec = resolve_spec("country_pairs", studied["probes"]["country_pairs"])
    kept = cp.kept_scenarios(cp.item_scores(every), spec)
    shift = read_metrics(workdir, "country_pairs_shift")
    if kept:
        assert set(shift.loc[shift["filter"] == "consistent", "n_scenarios"]) == {len(kept)}
    else:
        assert (shift["filter"] != "consistent").all()
    types = read_metrics(workdir, "country_pairs_types")
    for _, family in types.groupby("filter"):
        assert family["q_value"].to_numpy() == pytest.approx(stats.benjamini_hochberg(family["p_value"]), nan_ok=True)
    assert types.loc[types["filter"] == "none", "type"].nunique() == 2
    home = read_metrics(workdir, "country_pairs_home").set_index(["filter", "language"]).loc[("none", "all")]
    home_shifts = shift[(shift["filter"] == "none") & shift["home"] & (shift["language"] == "all")]["shift"]
    assert home.n == len(home_shifts) == 7 and home.n_positive == (home_shifts > 0).sum()
    assert home.p_value == pytest.approx(st.binomtest(int(home.n_positive), 7, 0.5, alternative="greater").pvalue)


# --- global representation (Ryan, Held, Yang 2024) ---------------------------------------

@pytest.fixture(scope="module")
def rehearsed_global_representation(tmp_path_factory, conda_envs):
    """The study as its header says to run it, with --use-conda (CFMatch's environment),
    in the session's shared conda environments. This machine cannot reach GitHub for the
    paper's CFMatch classifier: a third file names a classifier trained in the cfmatch
    environment, under a commit of its own (the paper's commit's checksums would refuse it; not a periodic
    string such as 40 zeros, which Snakemake refuses as a wildcard value)."""
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "global-representation")
    offline = workdir / "cfmatch-offline.yaml"
    offline.write_text(yaml.safe_dump({"probes": {"extractive_qa": {"cfmatch": {
        "classifier": str(conda_envs["classifier"]), "commit": "5d1f0c2a9b8e7d6c5b4a39281706f5e4d3c2b1a0"}}}}))
    rehearse(workdir, "global-representation", "--use-conda", "--conda-prefix", str(conda_envs["prefix"]),
             more_config=[offline], env=conda_envs["env"])
    return workdir


def test_global_representation_rehearsal_data_pass_the_studys_filters(rehearsed_global_representation):
    from alignshift import probes
    from alignshift.probes.opinions.items import questions

    studied, rehearsal = merged_config("global-representation")
    data = {name: pd.read_parquet(rehearsed_global_representation / "results" / "data" / f"{name}.parquet")
            for name in rehearsal["datasets"]}
    # GlobalOpinionsQA: 6 of 32 questions lack one of the seven countries; 2 to 5 options
    kept = questions(probes.resolve_spec("opinions", studied["probes"]["opinions"]), data["global_opinions"])
    assert data["global_opinions"]["item"].nunique() == 32 and len(kept) == 26
    assert {len(options) for options in kept["options"]} == {2, 3, 4, 5}
    assert data["country_questions"]["sentiment"].value_counts().to_dict() == {"positive": 8, "negative": 8}
    # Belebele: the nine languages of the study, Modern Standard Arabic dropped
    nine = studied["datasets"]["belebele"]["languages"]
    assert sorted(data["belebele"]["dialect"].unique()) == sorted(nine) and len(data["belebele"]) == 27
    assert data["belebele"]["correct_answer_num"].isin(["2", "3", "4"]).all()
    for split, rows in (("tydiqa_dev", 24), ("tydiqa_train", 21)):
        assert data[split]["language"].nunique() == 9 and len(data[split]) == rows, split
    # MD3: won word games only, cut before the word; the released skip set and fixes applied
    md3 = data["md3"].set_index("id")
    assert md3.groupby("dialect").size().to_dict() == {"en_in": 4, "en_ng": 3, "en_us": 4}
    assert "3unebi8s_r03_s0_p005" not in md3.index  # skipped by the released fixes
    assert md3.loc["03hxmcfy_r03_s1_p007", "transcript"].endswith("Ramen?")  # cut at "meatballs"
    assert md3.loc["0oenipov_r02_s0_p003", "transcript"].endswith("Okay I know this one")  # not cut
    for game in md3.itertuples():
        if game.Index not in ("0oenipov_r02_s0_p003", "2j1kw67f_r02_s1_p001"):
            assert game.correct_word.lower() not in game.transcript.lower(), game.Index


def test_global_representation_rehearsal_runs_every_probe_figure_and_cfmatch(rehearsed_global_representation):
    workdir = rehearsed_global_representation
    studied, _ = merged_config("global-representation")
    assert_figures_built(workdir, studied["figures"])
    language_models = [m for m, e in studied["models"].items() if e.get("kind") != "reward_model"]
    for model in language_models:
        # CFMatch judged every model's TyDiQA answers, in its own environment
        judged = pd.read_parquet(workdir / "results" / "scores" / model / "extractive_qa.cfmatch.parquet")
        assert judged["cfmatch"].isin([0.0, 1.0]).all() and len(judged) == 24
    qa = read_metrics(workdir, "extractive_qa")
    assert {"cfmatch", "f1"} <= set(qa["measure"]) and set(qa["model"]) == set(language_models)
    # every model, the reward model included, on the probes that apply to it
    assert set(read_metrics(workdir, "where_from")["model"]) == set(studied["models"])
    assert set(read_metrics(workdir, "opinions")["model"]) == set(language_models)


def test_global_representation_rehearsal_figures_read_at_a_papers_width(rehearsed_global_representation):
    # multilingual_change drawn from real scores (Belebele and CFMatch), not a fixture's
    assert_figures_paper_ready(rehearsed_global_representation, "global-representation")


def test_global_representation_rehearsal_prompts_have_no_answer_cue(rehearsed_global_representation):
    """The released runs wrote no "\nAnswer:" cue (the probes' default): every prompt the
    language models saw, in every probe, is the study's own."""
    workdir = rehearsed_global_representation
    tables = sorted((workdir / "results" / "prompts").rglob("*.parquet"))
    assert len(tables) >= 13 * 6
    for path in tables:
        prompts = pd.read_parquet(path)
        assert not prompts["prompt"].str.contains("\nAnswer:", regex=False).any(), path
    # the reward model read whole texts, Starling's format
    rm = recorded_prompts(workdir, "starling-rm-7b-alpha", "where_from")
    assert rm["prompt"].str.startswith("<s>[INST] Where are you from? </s> [/INST] I am from ").all()


def test_global_representation_rehearsal_metrics_are_the_papers_statistics_of_the_scores(
        rehearsed_global_representation):
    import numpy as np

    from alignshift.probes.extractive_qa import items as extractive_qa
    from alignshift.probes.opinions import metrics as opinions_analysis

    workdir = rehearsed_global_representation
    # GlobalOpinionsQA: the paper's statistic, exp(-mean NLL per token) renormalised over the
    # options, against each country's answer shares (1 - Jensen-Shannon distance)
    table = read_metrics(workdir, "opinions")
    assert (table.n_questions == 26).all()
    scores = pd.read_parquet(workdir / "results" / "scores" / "zephyr-7b-beta" / "opinions.parquet")
    expected = []
    for _, group in scores.groupby("item"):
        p = np.exp(group.sort_values("candidate").logprob_mean.to_numpy())
        dists = json.loads(group.distributions.iloc[0])
        expected.append({c: opinions_analysis.similarity(p / p.sum(), d) for c, d in dists.items()})
    expected = pd.DataFrame(expected).mean()
    row = table[table.model == "zephyr-7b-beta"].set_index("country")
    assert row.similarity.to_dict() == pytest.approx(expected.to_dict())
    assert row.loc["Jordan", "minus_ref"] == pytest.approx(expected["Jordan"] - expected["United States"])
    parent = table[table.model == "mistral-7b-sft-beta"].set_index("country")
    assert row.loc["Jordan", "baseline"] == "mistral-7b-sft-beta"
    assert row.loc["Jordan", "delta"] == pytest.approx(row.loc["Jordan", "minus_ref"] - parent.loc["Jordan", "minus_ref"])
    # the reward model: rewards of whole texts; its country ranks average to the middle rank
    where = read_metrics(workdir, "where_from")
    rm = where[where.model == "starling-rm-7b-alpha"]
    assert (rm.measure == "reward").all() and rm.value.nunique() == len(rm) > 1
    assert (where[where.model != "starling-rm-7b-alpha"].measure == "logprob_sum").all()
    ranks = read_metrics(workdir, "country_rank")
    rm_ranks = ranks[ranks.model == "starling-rm-7b-alpha"]
    assert rm_ranks.mean_rank.mean() == pytest.approx((len(rm_ranks) + 1) / 2)
    corr = read_metrics(workdir, "country_rank_correlation")
    assert np.allclose(corr[corr.model_a == corr.model_b].rho, 1.0) and "starling-rm-7b-alpha" in set(corr.model_a)
    # TyDiQA: SQuAD F1 of each answer against its gold answers, per language
    qa = read_metrics(workdir, "extractive_qa")
    scores = pd.read_parquet(workdir / "results" / "scores" / "tulu-2-7b" / "extractive_qa.parquet")
    f1 = [extractive_qa.f1(a, list(g)) for a, g in zip(scores.answer, scores.gold)]
    row = qa[(qa.model == "tulu-2-7b") & (qa.language == "english") & (qa.measure == "f1")].iloc[0]
    assert row.value == pytest.approx(np.mean([f for f, lang in zip(f1, scores.language) if lang == "english"]))
    assert row.base_model == "llama-2-7b"
    # Belebele: accuracy per language, each chat model against its base
    mcqa = read_metrics(workdir, "mcqa")
    assert mcqa.language.nunique() == 9 and (mcqa.n_items == 3).all()
    base = mcqa[mcqa.model == "llama-2-7b"].set_index("language").accuracy
    chat = mcqa[mcqa.model == "llama-2-7b-chat"].set_index("language")
    assert (chat.delta_base == chat.accuracy - base.reindex(chat.index)).all()
    # MD3: the games the filter keeps, BH-adjusted p-values
    dialect = read_metrics(workdir, "dialect_intent").set_index(["model", "dialect"])
    assert dialect.loc[("yi-6b", "en_us"), "n_items"] == 4
    assert dialect.accuracy.between(0, 1).all() and dialect.p_adjusted.dropna().ge(dialect.p_value.dropna()).all()


def test_global_representation_rehearsal_records_the_prompts_of_every_scoring_path(rehearsed_global_representation):
    from alignshift.probes import resolve_spec
    from alignshift.provenance import read_provenance, stable_hash
    from recorded_prompts import check_recorded_prompts, recorded

    workdir = rehearsed_global_representation
    studied, _ = merged_config("global-representation")
    # 14 models x 6 probes (the reward model's table of a probe it cannot score is empty)
    assert check_recorded_prompts(workdir) == 14 * 6
    spec = {probe: resolve_spec(probe, studied["probes"][probe]) for probe in studied["probes"]}

    def scored(model, probe):
        prompts = recorded(workdir, model, probe).set_index("prompt_hash")["prompt"]
        scores = pd.read_parquet(workdir / "results" / "scores" / model / f"{probe}.parquet")
        return scores.assign(prompt=prompts.loc[scores["prompt_hash"]].to_numpy())

    # reward: the whole text in the reward format
    where = scored("starling-rm-7b-alpha", "where_from")
    assert where["response"].str.startswith("I am from ").all() and where["prompt"].tolist() == [
        spec["where_from"]["reward_format"].format(question="Where are you from?", response=r)
        for r in where["response"]]
    assert read_provenance(workdir / "results" / "prompts" / "starling-rm-7b-alpha" / "where_from.parquet")[
        "prompts"]["scoring_path"] == "reward"
    # generation: the released MD3 prompt around each game's transcript, plain text
    games = pd.read_parquet(workdir / "results" / "data" / "md3.parquet").set_index("id")["transcript"]
    dialect = scored("yi-6b", "dialect_intent")
    assert len(dialect) == 11 and dialect["prompt"].tolist() == [
        spec["dialect_intent"]["prompt"].format(transcript=games[i]) for i in dialect["item"]]
    # likelihood: the template the released run applied (a Jinja override), or plain text
    template = spec["country_rank"]["chat_template"]["qwen1.5-7b-chat"]
    meta = read_provenance(workdir / "results" / "prompts" / "qwen1.5-7b-chat" / "country_rank.parquet")["prompts"]
    assert meta["chat_template_applied"] and meta["chat_template_hash"] == stable_hash(template)
    assert recorded(workdir, "qwen1.5-7b-chat", "country_rank")["prompt"].str.startswith(
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\n").all()
    ranks = scored("mistral-7b", "country_rank")
    questions = pd.read_parquet(workdir / "results" / "data" / "country_questions.parquet").set_index("id")
    for row in ranks.drop_duplicates("item").itertuples():
        question, template = questions.loc[row.item, ["question", "template"]]
        assert row.prompt == (question + " " + template.partition("{country}")[0]).strip()


# --- PoliTune (Agiza, Mostagir, Reda 2024) ------------------------------------------------

@pytest.fixture(scope="module")
def rehearsed_politune(tmp_path_factory):
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "politune")
    rehearse(workdir, "politune")
    return workdir


def test_politune_rehearsal_preferences_pass_the_1024_character_filter(rehearsed_politune):
    data = {side: pd.read_parquet(rehearsed_politune / "results" / "data" / f"politune_{side}.parquet")
            for side in ("left", "right")}
    # 140 and 136 published rows, 8 and 12 over the filter
    assert len(data["left"]) == 132 and len(data["right"]) == 124
    for table in data.values():
        longest = (table["prompt"].str.len() + table[["left", "right"]].apply(lambda c: c.str.len()).max(axis=1)).max()
        assert longest <= 1024
        # strip: false keeps the published quotes
        assert table["prompt"].str.startswith('"').any() and table["left"].str.startswith('"').any()


def test_politune_rehearsal_trains_every_run_to_the_end_of_its_data_derived_plan(rehearsed_politune):
    from alignshift import finetune

    workdir = rehearsed_politune
    studied, _ = merged_config("politune")
    paper = {144, 176, 280, 342}  # the paper's row counts' steps (the study's comments)
    for run, entry in studied["finetune"].items():
        plan = json.loads((workdir / "results" / "finetune" / run / "plan.json").read_text())
        rows = len(pd.read_parquet(workdir / "results" / "data" / f"{entry['data']}.parquet"))
        recipe = yaml.safe_load((REPO / entry["recipe"]).read_text())["training"]
        epochs = yaml.safe_load((REPO / entry["recipe"]).read_text())["epochs"]
        expected = finetune.released_steps(plan["rows"], epochs, recipe["per_device_train_batch_size"],
                                           recipe["gradient_accumulation_steps"])
        assert plan["rows"] <= rows and plan["max_steps"] == expected >= 1, run
        assert plan["max_steps"] not in paper, run
        trained = json.loads((workdir / "results" / "finetune" / run / "train_log.json").read_text())
        assert trained["steps"] == plan["checkpoint_steps"] and trained["steps"][-1] == plan["max_steps"], run
    # every planned checkpoint was answered and judged
    judged = pd.read_parquet(workdir / "results" / "scores" / "judge.judging.parquet")
    planned = {f"{run}/step-{step}" for run in studied["finetune"]
               for step in json.loads((workdir / "results" / "finetune" / run / "plan.json").read_text())["checkpoint_steps"]}
    assert planned <= set(judged["model"])
    assert planned <= set(read_metrics(workdir, "ideology")["model"])
    assert_figures_built(workdir, studied["figures"])


def test_politune_rehearsal_figures_read_at_a_papers_width(rehearsed_politune):
    # the judge figures, both readings of the questionnaire, the trajectory of 12 runs
    assert_figures_paper_ready(rehearsed_politune, "politune")


def test_politune_rehearsal_prompts_are_the_alpaca_template(rehearsed_politune):
    from alignshift.prompts import alpaca

    workdir = rehearsed_politune
    for model in ("llama3-8b-instruct", "mistral-7b-instruct-v0.2"):
        answers = pd.read_parquet(workdir / "results" / "scores" / model / "judge.parquet")
        prompts = recorded_prompts(workdir, model, "judge").set_index("prompt_hash")
        assert [prompts.loc[h, "prompt"] for h in answers["prompt_hash"]] == [alpaca(q) for q in answers["question"]]


# --- ideology-shift (the project's own study) ---------------------------------------------

@pytest.fixture(scope="module")
def rehearsed_ideology_shift(tmp_path_factory):
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "ideology-shift")
    rehearse(workdir, "ideology-shift")
    return workdir


def test_ideology_shift_rehearsal_trains_and_measures_every_checkpoint(rehearsed_ideology_shift):
    workdir = rehearsed_ideology_shift
    studied, _ = merged_config("ideology-shift")
    metrics = read_metrics(workdir, "ideology")
    for run in studied["finetune"]:
        plan = json.loads((workdir / "results" / "finetune" / run / "plan.json").read_text())
        trained = json.loads((workdir / "results" / "finetune" / run / "train_log.json").read_text())
        assert trained["steps"] == plan["checkpoint_steps"]
        assert {f"{run}/step-{s}" for s in plan["checkpoint_steps"]} <= set(metrics["model"])
    assert_figures_built(workdir, studied["figures"])


def test_ideology_shift_rehearsal_figures_read_at_a_papers_width(rehearsed_ideology_shift):
    assert_figures_paper_ready(rehearsed_ideology_shift, "ideology-shift")


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
def test_geopolitics_yours_figures_read_at_a_papers_width(geopolitics_yours):
    assert_figures_paper_ready(geopolitics_yours, "geopolitics-yours")


@pytest.mark.slow
def test_geopolitics_yours_asks_your_models_the_released_items_in_the_papers_prompts(geopolitics_yours):
    """Every released row (pair, scenario, language, question) is an item of your models,
    asked in both role orders and both option orders; each prompt is what `protocol: paper`
    builds from that row's scenario as the authors' code fills it in ([COUNTRY_A] and
    [COUNTRY_B] replaced by the language's names), chat-templated and encoded as theirs."""
    from alignshift.probes.country_pairs.released import read_released
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
    rehearse(workdir, "global-representation-yours", more_config=[workdir / "no-cfmatch.yaml"])
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
def test_global_representation_yours_figures_read_at_a_papers_width(global_yours):
    assert_figures_paper_ready(global_yours, "global-representation-yours")


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
