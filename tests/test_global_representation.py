"""The global-representation study: loaders on fixtures in the datasets' real formats,
the probes' metrics against hand-computed values, the reward model's strict loading,
the full-scale config's offline plan (the whole DAG on stand-ins: its rehearsal, tests/test_rehearsals.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alignshift import data
from alignshift.probes.opinions import metrics as opinions_analysis
from alignshift.probes import resolve_spec
from alignshift.probes.dialect_intent import items as dialect_intent
from alignshift.probes.extractive_qa import items as extractive_qa
from alignshift.probes.opinions import items as opinions
from conftest import STUDIES, model_table, plan_study
from global_fixtures import SEVEN, selections, write_all, write_global_opinions, write_md3

STUDY = STUDIES / "global-representation.yaml"


# --- loaders ---------------------------------------------------------------------------

def test_global_opinions_parses_literals_and_filters_seven_countries(tmp_path):
    table = data.prepare({"loader": "global_opinions", "path": str(write_global_opinions(tmp_path / "go.csv"))})
    first = table[(table.item == "q0000") & (table.country == "Jordan")].iloc[0]
    assert list(first.options) == ["Acceptable", "Depends", "Not acceptable"]
    assert list(first.distribution) == [0.1, 0.2, 0.7]
    assert table.attrs["revision"]  # the file's content hash
    kept = opinions.questions(resolve_spec("opinions", None), table)
    assert kept["item"].tolist() == ["q0000", "q0001"]  # q0002 lacks Jordan
    assert set(json.loads(kept.iloc[0].distributions)) == set(SEVEN)  # Peru is not carried


@pytest.mark.parametrize("bad, message", [
    ({"United States": [0.5, 0.3, 0.1]}, "sum to 0.900"),
    ({"United States": [0.5, 0.5]}, "2 answer shares for 3 options"),
])
def test_global_opinions_bad_distribution_names_the_row(tmp_path, bad, message):
    row = {"question": "Q?", "selections": selections(bad), "options": "['a', 'b', 'c']", "source": "GAS"}
    path = write_global_opinions(tmp_path / "go.csv", [row])
    with pytest.raises(data.DataError, match=rf"row 5: United States.*{message}"):
        data.prepare({"loader": "global_opinions", "path": str(path)})


def test_global_opinions_never_evaluates_code(tmp_path):
    marker = tmp_path / "pwned"
    row = {"question": "Q?", "selections": f"defaultdict(<class 'list'>, {{'X': __import__('os').system('touch {marker}')}})",
           "options": "['a', 'b']", "source": "GAS"}
    with pytest.raises(data.DataError, match="row 5 column 'selections': not a Python literal"):
        data.prepare({"loader": "global_opinions", "path": str(write_global_opinions(tmp_path / "go.csv", [row]))})
    assert not marker.exists()


def test_study_loaders_read_their_fixture_formats(tmp_path):
    specs = write_all(tmp_path)
    questions = data.prepare(specs["country_questions"])
    assert questions.columns.tolist() == ["id", "question", "template", "sentiment", "category"]
    assert questions.sentiment.tolist() == ["positive", "positive", "negative"]
    belebele = data.prepare(specs["belebele"])
    assert sorted(belebele.dialect.unique()) == ["eng_Latn", "ind_Latn"]  # fra_Latn is not a TyDiQA language
    assert len(belebele) == 4 and belebele.item.is_unique
    dev = data.prepare(specs["tydiqa_dev"])
    assert dev.language.tolist() == ["english", "english", "swahili", "swahili"]
    assert list(dev.answers.iloc[2]) == ["mita elfu tano"]


def test_md3_filters_won_word_games_and_cuts_before_the_guess(tmp_path):
    games = data.prepare({"loader": "md3", "path": str(write_md3(tmp_path / "md3"))}).set_index("id")
    # lost game, image game and the game whose word is never said are dropped
    assert sorted(games.index) == ["in_g1", "ng_g1", "us_g1", "us_g4"]
    # the repeated turn is dropped and the cut is right before "Lighthouse!"
    assert games.loc["us_g1", "transcript"] == ("Speaker1: It stands by the coast\nSpeaker0: A tower?\n"
                                                "Speaker1: Ships look for it at night")
    assert list(games.loc["us_g1", "distractors"]) == ["boat", "sea", "light"]
    assert games.loc["ng_g1", "dialect"] == "en_ng"


def test_md3_missing_directory_is_named(tmp_path):
    with pytest.raises(data.DataError, match="MD3 directory not found"):
        data.prepare({"loader": "md3", "path": str(tmp_path / "nowhere")})


# --- metrics ---------------------------------------------------------------------------

def test_similarity_is_one_minus_jensen_shannon_distance():
    assert opinions_analysis.similarity([0.2, 0.8], [0.2, 0.8]) == pytest.approx(1.0)
    assert opinions_analysis.similarity([1.0, 0.0], [0.0, 1.0], base=2) == pytest.approx(0.0)
    # by hand: M = (.75, .25); JSD = H(M) - (H(p) + H(q)) / 2 = 0.811278 - 0.5 (bits)
    assert opinions_analysis.similarity([0.5, 0.5], [1.0, 0.0], base=2) == pytest.approx(1 - np.sqrt(0.311278),
                                                                                       abs=1e-6)
    # the default (the paper's): natural log, JSD in nats = 0.311278 ln 2
    assert opinions_analysis.similarity([0.5, 0.5], [1.0, 0.0]) == pytest.approx(
        1 - np.sqrt(0.311278 * np.log(2)), abs=1e-6)


def test_opinions_metrics_minus_usa_and_change_from_parent():
    dists = {"United States": [0.8, 0.2], "Jordan": [0.2, 0.8]}
    rows = []
    for model, p_first in (("base", 0.5), ("chat", 0.8)):
        for item in ("q1", "q2", "q3"):
            for letter, p in (("A", p_first), ("B", 1 - p_first)):
                rows.append({"model": model, "item": item, "candidate": letter, "logprob_sum": np.log(p),
                             "distributions": json.dumps(dists)})
    spec = {"reference_country": "United States", "js_base": 2, "analysis": {"statistic": "logprob_sum"}}
    table = opinions_analysis.metrics(pd.DataFrame(rows), model_table({"base": None, "chat": "base"}), spec).set_index(
        ["model", "country"])
    def sim(p, q):
        return opinions_analysis.similarity(p, q, base=2)
    assert table.loc[("chat", "United States"), "similarity"] == pytest.approx(1.0)
    chat_gap = sim([0.8, 0.2], [0.2, 0.8]) - 1.0
    assert table.loc[("chat", "Jordan"), "minus_ref"] == pytest.approx(chat_gap)
    assert table.loc[("base", "Jordan"), "minus_ref"] == pytest.approx(0.0)  # (.5,.5) is equidistant
    assert table.loc[("chat", "Jordan"), "delta"] == pytest.approx(chat_gap - 0.0)
    assert table.loc[("chat", "Jordan"), "baseline"] == "base"


def test_squad_exact_match_and_f1():
    assert extractive_qa.exact_match("The Eiffel Tower.", ["eiffel tower"]) == 1.0
    # 2 of 4 gold tokens, all predicted tokens right: P=1, R=.5
    assert extractive_qa.f1("the Eiffel tower", ["Eiffel Tower in Paris", "Paris"]) == pytest.approx(2 / 3)
    assert extractive_qa.f1("London", ["Paris"]) == 0.0


def test_demonstration_is_seeded_per_question():
    pool = pd.DataFrame({"id": [f"english-{i}" for i in range(50)]})
    picks = [extractive_qa.demonstration("english-q1", pool, seed=0).id for _ in range(3)]
    assert len(set(picks)) == 1
    others = {extractive_qa.demonstration(f"english-q{i}", pool, seed=0).id for i in range(20)}
    assert len(others) > 5


def test_dialect_intent_correct_only_without_distractors():
    assert dialect_intent.is_correct("Lighthouse", "lighthouse", ["boat", "sea"])
    assert not dialect_intent.is_correct("a boat lighthouse", "Lighthouse", ["boat"])
    assert not dialect_intent.is_correct("tower", "Lighthouse", ["boat"])


# --- reward model ----------------------------------------------------------------------

def _load_rm(path: Path):
    from alignshift.models.load import load
    from alignshift.models.spec import ModelSpec

    spec = ModelSpec(name="rm", id=str(path), kind="reward_model", stage="rm", dtype="float32")
    manifest = {"name": "rm", "path": str(path), "revision": "test", "spec": spec.to_dict()}
    return load(manifest, spec, device="cpu")


def test_starling_layout_loads_to_the_same_rewards_as_transformers_layout(tiny_model_dir, tmp_path):
    from global_fixtures import tiny_reward_model

    from alignshift.rewards import reward_scores

    texts = ["<s>[INST] Where are you from? </s> [/INST] I am from Peru.</s>",
             "<s>[INST] Where are you from? </s> [/INST] I am from Kenya, a long way away.</s>"]
    hf = _load_rm(tiny_reward_model(tmp_path / "hf", tiny_model_dir, layout="hf", seed=3))
    starling = _load_rm(tiny_reward_model(tmp_path / "st", tiny_model_dir, layout="starling", seed=3))
    a = reward_scores(hf.model, hf.tokenizer, texts)
    b = reward_scores(starling.model, starling.tokenizer, texts)
    assert a == pytest.approx(b, abs=1e-5) and abs(a[0] - a[1]) > 1e-4
    # the reward is the value head at the last token, whatever the batch's padding
    import torch
    ids = hf.tokenizer(texts[0], add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        manual = hf.model.score(hf.model.model(ids).last_hidden_state[0, -1]).item()
    assert a[0] == pytest.approx(manual, abs=1e-5)


@pytest.mark.parametrize("extra, drop, message", [
    ({"v_head.bias": "zeros1"}, (), r"unexpected weights \['score.bias'\]"),
    ({}, ("v_head.weight",), r"missing weights \['score.weight'\]"),
])
def test_reward_model_missing_or_unexpected_weight_is_an_error(tiny_model_dir, tmp_path, extra, drop, message):
    import torch
    from global_fixtures import tiny_reward_model

    from alignshift.models.spec import ModelLoadError

    extra = {k: torch.zeros(1) for k in extra}
    path = tiny_reward_model(tmp_path / "rm", tiny_model_dir, layout="starling", extra=extra, drop=drop)
    with pytest.raises(ModelLoadError, match=message):
        _load_rm(path).model


# --- the study's DAG -------------------------------------------------------------------

def test_full_study_plans_offline():
    counts = plan_study(STUDY)
    # 13 language models + the reward model, each fetched and evaluated once
    assert counts["fetch_model"] == 14 and counts["evaluate"] == 14
    # the five hub datasets are downloaded (rule download_data, on the login node under
    # SLURM); the shipped countries and the hand-placed MD3 are read from disk
    assert counts["download_data"] == 5 and counts["prepare_data"] == 2
    assert counts["figure"] == 6 and counts["analyze"] == 6
    # CFMatch: the classifier fetched once, every model's TyDiQA answers judged
    assert counts["cfmatch_classifier"] == 1 and counts["cfmatch"] == 14
    study = yaml.safe_load(STUDY.read_text())
    assert all(m.get("stage") and "parent" in m for m in study["models"].values())
    assert study["models"]["starling-rm-7b-alpha"]["kind"] == "reward_model"


# the whole study on stand-ins of its model families: its rehearsal (tests/test_rehearsals.py)
