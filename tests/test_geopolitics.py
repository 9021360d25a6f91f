"""The geopolitical pairs study (Bladon & Bent 2026): a model that always answers "A",
the statistics on hand-computed inputs, and the full study's dry run (the whole DAG on
stand-ins of its families: its rehearsal, tests/test_rehearsals.py)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from alignshift import data, probes
from alignshift import stats
from alignshift.probes.country_pairs import metrics as cp
from alignshift.models.load import LoadedModel
from alignshift.models.spec import ModelSpec
from alignshift.stand_ins import corpus, random_model, train_tokenizer
from conftest import REPO, STUDIES, plan_study

STUDY = STUDIES / "geopolitics.yaml"


# ---- a model that always prefers "A" ----

def always_a_model(tokenizer, bias: float = 3.0):
    """A Phi-shaped model whose output ignores its input (final layer norm zeroed) and
    whose output bias favours the tokens of "A" and " A"."""
    model = random_model({"model_type": "phi", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                          "num_attention_heads": 2, "max_position_embeddings": 4096}, tokenizer, seed=0)
    with torch.no_grad():
        model.model.final_layernorm.weight.zero_()
        model.model.final_layernorm.bias.zero_()
        model.lm_head.bias.zero_()
        for form in ("A", " A"):
            model.lm_head.bias[tokenizer(form, add_special_tokens=False).input_ids[-1]] = bias
    return model.eval()


@pytest.fixture(scope="module")
def bank():
    return {"scenarios": data.prepare({"loader": "scenarios", "path": str(REPO / "data/country_pairs/scenarios.yaml")})}


def test_letter_a_model_flips_raw_sign_and_the_average_cancels(bank):
    tok = train_tokenizer(corpus(REPO / "data"))
    model = always_a_model(tok)
    lm = LoadedModel(ModelSpec(name="always-a", id="stand-in", chat_template=False), tok, "stand-in", "cpu",
                     torch.float32, lambda: model)
    # the project's former protocol: letters scored as text continuations
    spec = probes.evaluation_spec(probes.resolve_spec("country_pairs", {
        "max_scenarios": 2, "countries": ["USA", "China", "Japan"], "languages": ["en", "zh"],
        "questions": ["more", "less"], "fictional": False, "protocol": "project", "letter_scoring": "text",
        "letters": {"A": ["A", " A"], "B": ["B", " B"]}}))
    scores = probes.run("country_pairs", spec, bank, lm, progress=False)
    # what the model puts on each letter, from its output bias alone
    logp = torch.log_softmax(model.lm_head.bias.detach().float(), -1)
    ids = {form: tok(form, add_special_tokens=False).input_ids for form in ("A", " A", "B", " B")}
    log_p = {f: float(sum(logp[i] for i in ids[f])) for f in ids}
    expected = np.logaddexp(log_p["A"], log_p[" A"]) - np.logaddexp(log_p["B"], log_p[" B"])
    assert expected > 1

    per_prompt = cp.prompt_scores(scores)
    x_is_a = per_prompt["variant"].str.split("A=").str[1] == per_prompt["x"]
    assert per_prompt.loc[x_is_a, "log_odds"].to_numpy() == pytest.approx(expected, abs=1e-4)
    assert per_prompt.loc[~x_is_a, "log_odds"].to_numpy() == pytest.approx(-expected, abs=1e-4)
    items = cp.item_scores(scores)
    assert len(items) == 2 * 3 * 2 * 2  # scenarios x pairs x languages x questions
    assert items["score"].abs().max() < 1e-4
    fav = cp.favourability(scores, {})
    assert fav["favourability"].abs().max() < 1e-4


def test_base_models_get_balanced_few_shot_examples(bank):
    spec = probes.resolve_spec("country_pairs", {"max_scenarios": 1, "countries": ["USA", "China"],
                                                 "languages": ["fr"], "questions": ["more", "less"],
                                                 "protocol": "project", "letter_scoring": "text",
                                                 "letters": {"A": ["A", " A"], "B": ["B", " B"]}})

    plain = probes.PromptFormat(lambda user, assistant_prefix="": user + "\nAnswer:", chat=False)
    chat = probes.PromptFormat(lambda user, assistant_prefix="": f"<user>{user}</user>", chat=True)

    rows = probes.build("country_pairs", spec, bank, plain)
    for question, answers in (("more", ["A", "B"]), ("less", ["B", "A"])):
        prompt = rows.loc[rows["question"] == question, "prompt"].iloc[0]
        assert prompt.count("\nAnswer:") == 3  # two worked examples, then the item
        assert [line[len("Answer: "):] for line in prompt.splitlines() if line.startswith("Answer: ")] == answers
        assert "le Norvath" in prompt and "la Pellisie" in prompt and prompt.endswith("\nAnswer:")
        assert "Quel pays" in prompt
    chat_rows = probes.build("country_pairs", spec, bank, chat)
    assert not chat_rows["prompt"].str.contains("Norvath").any()
    assert len(chat_rows) == len(rows)


# ---- the statistics on hand-computed inputs ----

def test_sign_test_is_the_exact_binomial():
    # 6 of 7 labs toward home: P(X >= 6 | n=7, p=1/2) = (7 + 1) / 128
    result = stats.sign_test([0.3, 0.1, -0.2, 0.5, 0.4, 0.2, 0.9])
    assert (result["n"], result["n_positive"]) == (7, 6)
    assert result["p_value"] == pytest.approx(8 / 128)
    # a tie is dropped: 2 of 2 -> 1/4
    assert stats.sign_test([1.0, 0.0, 2.0])["p_value"] == pytest.approx(0.25)


def test_home_test_counts_labs_per_filter_and_language():
    rows = []
    for lab, s_all, s_en in (("L1", 0.5, -0.1), ("L2", 0.2, 0.3), ("L3", -0.4, 0.2)):
        rows += [{"lab": lab, "home": True, "filter": "none", "language": "all", "shift": s_all},
                 {"lab": lab, "home": True, "filter": "none", "language": "en", "shift": s_en},
                 {"lab": lab, "home": False, "filter": "none", "language": "all", "shift": 9.0}]
    home = cp.home_test(pd.DataFrame(rows)).set_index("language")
    assert home.loc["all", "n"] == 3 and home.loc["all", "n_positive"] == 2
    assert home.loc["all", "p_value"] == pytest.approx(4 / 8)  # P(X >= 2 | n=3)
    assert home.loc["all", "toward_home"] == "L1;L2" and home.loc["all", "away_from_home"] == "L3"
    assert home.loc["en", "toward_home"] == "L2;L3"


def test_benjamini_hochberg_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06, 0.0533, 0.2 -> monotone 0.04, 0.0533, 0.0533, 0.2
    adjusted = stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.2, np.nan])
    assert adjusted[:4] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(adjusted[4])


def test_type_tests_are_paired_t_tests_with_bh():
    # chat - base per item: airspace 1, 2, 3 (t = 2 sqrt 3); trade -1, 1, 3 (t = sqrt 3 / 2)
    rows = []
    for kind, diffs in (("airspace", [1, 2, 3]), ("trade", [-1, 1, 3])):
        for i, d in enumerate(diffs):
            for model, value in (("base", 0.5 * i), ("chat", 0.5 * i + d)):
                rows.append({"model": model, "country": "USA", "type": kind, "item": f"{kind}-{i}", "favour": value})
    pair = {"lab": "L", "base": "base", "model": "chat", "home_country": "USA"}
    tests = cp.type_tests(pd.DataFrame(rows), [pair]).set_index("type")

    def p_two_sided_df2(t):  # Student t with 2 degrees of freedom: sf(t) = 1/2 - t / (2 sqrt(t^2 + 2))
        return 2 * (0.5 - t / (2 * math.sqrt(t * t + 2)))

    p1, p2 = p_two_sided_df2(2 * math.sqrt(3)), p_two_sided_df2(math.sqrt(3) / 2)
    assert tests.loc["airspace", "t"] == pytest.approx(2 * math.sqrt(3))
    assert tests.loc["airspace", "p_value"] == pytest.approx(p1)
    assert tests.loc["trade", "p_value"] == pytest.approx(p2)
    assert tests.loc["airspace", "q_value"] == pytest.approx(2 * p1)  # rank 1 of 2
    assert tests.loc["trade", "q_value"] == pytest.approx(p2)
    assert tests.loc["trade", "shift"] == pytest.approx(1.0)


def test_consistency_filter_keeps_scenarios_that_flip_in_enough_models():
    rows = []
    # s1: both models flip between "more" and "less"; s2: only m1 does
    for model, scenario, more, less in (("m1", "s1", 1.0, -0.5), ("m2", "s1", -0.2, 0.3),
                                        ("m1", "s2", 0.4, -0.1), ("m2", "s2", 0.7, 0.2)):
        for question, value in (("more", more), ("less", less)):
            rows.append({"model": model, "scenario": scenario, "x": "X", "y": "Y", "language": "en",
                         "question": question, "log_odds": value})
    items = pd.DataFrame(rows)
    assert cp.consistent_scenarios(items, 0.5) == ["s1", "s2"]
    assert cp.consistent_scenarios(items, 0.75) == ["s1"]
    with pytest.raises(ValueError, match="both questions"):
        cp.consistent_scenarios(items[items["question"] == "more"], 0.5)


# ---- the full study plans offline ----

def test_full_study_plans_offline(tmp_path):
    env = {"HF_HOME": str(tmp_path / "hf"),
           # any attempt to reach the network fails
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    cfg = yaml.safe_load(STUDY.read_text())
    before = {name: (REPO / "resources" / "models" / name).exists() for name in cfg["models"]}
    counts = plan_study(STUDY, env=env)
    assert counts["fetch_model"] == 14 and counts["evaluate"] == 14
    assert counts["prepare_data"] == 1 and counts["analyze"] == 1 and counts["tables_country_pairs"] == 1
    assert counts["figure"] == len(cfg["figures"]) == 7
    assert "finetune" not in counts
    assert {name: (REPO / "resources" / "models" / name).exists() for name in cfg["models"]} == before
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))
    # the study itself: seven base -> chat pairs, remote code only where opted in
    chats = {n: m for n, m in cfg["models"].items() if m.get("parent")}
    assert len(chats) == 7 and all(cfg["models"][m["parent"]]["chat_template"] is False for m in chats.values())
    assert {n for n, m in cfg["models"].items() if m.get("trust_remote_code")} == {"baichuan2-7b", "baichuan2-7b-chat"}
