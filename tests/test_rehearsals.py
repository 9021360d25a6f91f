"""Every seed study that runs models, rehearsed whole as its user runs it:
`snakemake --configfile config/studies/<study>.yaml config/rehearsals/<study>.yaml`, on
tiny random stand-ins of the study's model families (alignshift/stand_ins.yaml), to the
study's final targets and report. Protocol checks read what the jobs recorded
(results/prompts/<model>/<probe>.parquet), never specs built by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, assert_figures_built, read_metrics, run_snakemake

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


def test_every_study_that_runs_models_has_a_rehearsal_that_changes_only_ids_and_datasets():
    for study in ("geopolitics", "global-representation", "politune", "ideology-shift"):
        studied, rehearsal = merged_config(study)
        assert set(rehearsal) <= {"models", "datasets"}, study
        for name, entry in rehearsal.get("models", {}).items():
            assert name in studied["models"] and set(entry) == {"id"}, (study, name)
            assert entry["id"].startswith("stand-in:"), (study, name)
        # every model the study fetches is stood in for
        assert set(rehearsal.get("models", {})) == set(studied["models"]), study
        for name, entry in rehearsal.get("datasets", {}).items():
            assert name in studied["datasets"], (study, name)
            assert set(entry) <= {"path", "repo", "manual"}, (study, name)


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


# --- global representation (Ryan, Held, Yang 2024) ---------------------------------------

@pytest.fixture(scope="module")
def rehearsed_global_representation(tmp_path_factory, conda_envs):
    """The study as its header says to run it, with --use-conda (CFMatch's environment),
    in the session's shared conda environments. This machine cannot reach GitHub for the
    paper's CFMatch classifier: a third file names a classifier trained in the cfmatch
    environment, under a commit of its own (the paper's commit's checksums would refuse it)."""
    workdir = rehearsal_workdir(tmp_path_factory.mktemp("rehearsal") / "global-representation")
    offline = workdir / "cfmatch-offline.yaml"
    offline.write_text(yaml.safe_dump({"probes": {"extractive_qa": {"cfmatch": {
        "classifier": str(conda_envs["classifier"]), "commit": "0" * 40}}}}))
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
