"""Every seed study that runs models, rehearsed whole as its user runs it:
`snakemake --configfile config/studies/<study>.yaml config/rehearsals/<study>.yaml`, on
tiny random stand-ins of the study's model families (alignshift/stand_ins.yaml), to the
study's final targets and report. Protocol checks read what the jobs recorded
(results/prompts/<model>/<probe>.parquet), never specs built by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, assert_figures_built, run_snakemake

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


def rehearse(workdir: Path, study: str, *args: str, timeout: float = 2400):
    files = [f"config/studies/{study}.yaml", f"config/rehearsals/{study}.yaml"]
    result = run_snakemake(workdir, "--configfile", *files, "--cores", "2", *args, timeout=timeout)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-6000:])
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


# --- the rehearsals' hub datasets (data/rehearsals/): prepared by the study's own loaders ---

def prepared(workdir: Path, study: str) -> dict[str, pd.DataFrame]:
    """Every dataset the rehearsal overrides, as its prepare_data job wrote it."""
    _, rehearsal = merged_config(study)
    names = sorted(rehearsal["datasets"])
    rehearse(workdir, study, *[f"results/data/{name}.parquet" for name in names])
    return {name: pd.read_parquet(workdir / "results" / "data" / f"{name}.parquet") for name in names}


@pytest.mark.slow
def test_global_representation_rehearsal_data_pass_the_studys_filters(tmp_path):
    from alignshift import probes
    from alignshift.probes.opinions.items import questions

    studied, _ = merged_config("global-representation")
    data = prepared(rehearsal_workdir(tmp_path / "global"), "global-representation")
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


@pytest.mark.slow
def test_politune_rehearsal_preferences_pass_the_1024_character_filter(tmp_path):
    data = prepared(rehearsal_workdir(tmp_path / "politune"), "politune")
    # 140 and 136 published rows, 8 and 12 over the filter
    assert len(data["politune_left"]) == 132 and len(data["politune_right"]) == 124
    for table in data.values():
        longest = (table["prompt"].str.len() + table[["left", "right"]].apply(lambda c: c.str.len()).max(axis=1)).max()
        assert longest <= 1024
        # strip: false keeps the published quotes
        assert table["prompt"].str.startswith('"').any() and table["left"].str.startswith('"').any()
