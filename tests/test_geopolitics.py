"""The geopolitical pairs study (Bladon & Bent 2026): the DAG on tiny stand-ins, a
model that always answers "A", the statistics on hand-computed inputs, and the full
study's dry run."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats as st

from alignshift import data, probes
from alignshift.provenance import read_provenance
from alignshift import stats
from alignshift.probes.country_pairs import metrics as cp
from alignshift.models.load import LoadedModel
from alignshift.models.spec import ModelSpec
from alignshift.stand_ins import TINY_LLAMA, corpus, random_model, tiny_model, train_tokenizer
from conftest import REPO, repo_files, STUDIES, assert_figures_built, plan_study, read_metrics, run_snakemake, write_config
from recorded_prompts import check_recorded_prompts, recorded, tokenizer_of

STUDY = STUDIES / "geopolitics.yaml"
FIGURES = ("country_pairs_favourability", "geopolitics_home_shift", "geopolitics_language", "geopolitics_pairs",
           "geopolitics_china_favourability", "geopolitics_language_shift", "geopolitics_type_heatmap")
SHARE = 0.5


# ---- (a) the study's DAG on tiny stand-ins ----

def stand_in_config(tmp: Path) -> dict:
    """The study config with every model replaced by a tiny random model (base and chat
    of a lab get different seeds) and few scenarios and countries."""
    cfg = yaml.safe_load(STUDY.read_text())
    keep = ["llama-3.1-8b", "llama-3.1-8b-instruct", "qwen2.5-7b", "qwen2.5-7b-instruct"]
    cfg["models"] = {name: cfg["models"][name] for name in keep}
    # a wider initialisation than the default (0.02) so the random models hold clear
    # preferences and base and chat differ by more than rounding
    shape = {**TINY_LLAMA, "initializer_range": 0.5}
    for seed, (name, entry) in enumerate(cfg["models"].items(), start=1):
        entry.update(id=str(tiny_model(tmp / "models" / name, REPO / "data", seed=seed, config=shape)),
                     dtype="float32", trust_remote_code=False)
    # a chat model with the paper's answer prefill, as the study gives Yi-1.5 chat
    cfg["models"]["qwen2.5-7b-instruct"]["answer_prefill"] = "("
    cfg["threads"] = {"finetune": 1, "evaluate": 1}
    cfg["datasets"] = repo_files(cfg["datasets"])
    # health-01..04 and military-01: two scenario types
    cfg["probes"]["country_pairs"].update(countries=["USA", "China", "France"], fictional=False,
                                          languages=["en", "zh"], scenario_types=["health", "military"],
                                          max_scenarios=5,
                                          analysis={"consistency_share": SHARE})
    return cfg


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("geopolitics")
    write_config(workdir, stand_in_config(workdir))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_geopolitics_figure_is_built(study):
    assert_figures_built(study, FIGURES)


def test_shift_is_chat_minus_base_favourability(study):
    fav = read_metrics(study, "country_pairs").set_index(["model", "country", "language"])
    shift = read_metrics(study, "country_pairs_shift")
    unfiltered = shift[shift["filter"] == "none"]
    # 2 labs x 3 countries x (all + 2 languages)
    assert len(unfiltered) == 2 * 3 * 3
    for row in unfiltered.itertuples():
        chat, base = fav.loc[(row.model, row.country, row.language)], fav.loc[(row.base, row.country, row.language)]
        assert row.base_favourability == pytest.approx(base.favourability, abs=1e-9)
        assert row.chat_favourability == pytest.approx(chat.favourability, abs=1e-9)
        assert row.shift == pytest.approx(chat.favourability - base.favourability, abs=1e-9)
        assert row.shift == pytest.approx(chat.delta, abs=1e-9)  # the probe's own paired delta agrees
        assert row.shift_ci_low <= row.shift <= row.shift_ci_high
        assert row.n_items == base.n_items
    # distinct random weights: post-training "shifts" every country
    assert (unfiltered["shift"].abs() > 1e-3).all()
    home = unfiltered[unfiltered["home"]]
    assert sorted(zip(home["lab"], home["country"], home["language"]))[:2] == [("Alibaba", "China", "all"),
                                                                              ("Alibaba", "China", "en")]


def raw_item_score(scores: pd.DataFrame, item: str) -> float:
    """The item's score straight from the score table: per prompt, log of the summed
    probability of x's letter forms minus y's, averaged over the four prompts."""
    rows = scores[scores["item"] == item]
    x, y = rows["x"].iloc[0], rows["y"].iloc[0]
    per_prompt = []
    for _, prompt in rows.groupby("variant"):
        lx = np.logaddexp.reduce(prompt.loc[prompt["country"] == x, "logprob_sum"].to_numpy())
        ly = np.logaddexp.reduce(prompt.loc[prompt["country"] == y, "logprob_sum"].to_numpy())
        per_prompt.append(lx - ly)
    assert len(per_prompt) == 4
    return float(np.mean(per_prompt)) * (-1 if rows["question"].iloc[0] == "less" else 1)


def test_pair_table_matches_the_score_tables(study):
    pairs = read_metrics(study, "country_pairs_pairs").set_index(["filter", "model", "language", "country", "opponent"])
    scores = pd.read_parquet(study / "results" / "scores" / "qwen2.5-7b" / "country_pairs.parquet")
    usa_china = scores[(scores["x"] == "USA") & (scores["y"] == "China")]
    assert usa_china["item"].nunique() == 5 * 2 * 2  # scenarios x languages x questions
    # favourability reads the "more justifiably" question only (analysis.questions, the paper's)
    items = usa_china.loc[usa_china["question"] == "more", "item"].unique()
    expected = np.mean([raw_item_score(scores, item) for item in items])
    cell = pairs.loc[("none", "qwen2.5-7b", "all", "USA", "China")]
    assert cell.log_odds == pytest.approx(expected, abs=1e-9)
    assert pairs.loc[("none", "qwen2.5-7b", "all", "China", "USA")].log_odds == pytest.approx(-expected, abs=1e-9)


def test_consistency_filter_and_tests_are_reported(study):
    scores = pd.concat(pd.read_parquet(p) for p in (study / "results" / "scores").rglob("country_pairs.parquet"))
    spec = probes.resolve_spec("country_pairs", yaml.safe_load((study / "config.yaml").read_text())["probes"]["country_pairs"])
    kept = cp.kept_scenarios(cp.item_scores(scores), spec)
    shift = read_metrics(study, "country_pairs_shift")
    if kept:
        assert set(shift.loc[shift["filter"] == "consistent", "n_scenarios"]) == {len(kept)}
    else:
        assert (shift["filter"] != "consistent").all()
    types = read_metrics(study, "country_pairs_types")
    for _, family in types.groupby("filter"):
        assert family["q_value"].to_numpy() == pytest.approx(stats.benjamini_hochberg(family["p_value"]), nan_ok=True)
    unfiltered = types[types["filter"] == "none"]
    assert set(unfiltered["type"]) == {"health", "military"}
    assert unfiltered["p_value"].notna().all()
    home = read_metrics(study, "country_pairs_home").set_index(["filter", "language"]).loc[("none", "all")]
    home_shifts = shift[(shift["filter"] == "none") & shift["home"] & (shift["language"] == "all")]["shift"]
    assert home.n == 2 and home.n_positive == (home_shifts > 0).sum()
    assert home.p_value == pytest.approx(st.binomtest(int(home.n_positive), 2, 0.5, alternative="greater").pvalue)


def test_recorded_prompts_are_the_papers_with_the_prefill(study):
    assert check_recorded_prompts(study) == 4
    tokenizer = tokenizer_of(study, "qwen2.5-7b-instruct")
    prefill = tokenizer.encode("(", add_special_tokens=False)
    # the stand-ins' chat template (alignshift.stand_ins.CHAT_TEMPLATE) ends its generation prompt so
    generation_prompt = "<|im_start|>assistant\n"
    endings = {"qwen2.5-7b-instruct": {"en": generation_prompt + "(", "zh": generation_prompt + "("},
               "llama-3.1-8b-instruct": {"en": generation_prompt, "zh": generation_prompt},
               "qwen2.5-7b": {"en": "\nAnswer: (", "zh": "\n答案：("},
               "llama-3.1-8b": {"en": "\nAnswer: (", "zh": "\n答案：("}}
    for model, ending in endings.items():
        prompts = recorded(study, model, "country_pairs")
        scores = pd.read_parquet(study / "results" / "scores" / model / "country_pairs.parquet")
        language = scores.drop_duplicates("prompt_hash").set_index("prompt_hash")["language"]
        # scenarios x 2 languages x pairs x 2 questions x 2 role orders x 2 option orders
        assert len(prompts) == len(language) == 5 * 2 * 3 * 2 * 2 * 2
        assert (prompts["given_as"] == "token_ids").all()  # the paper's code builds token ids
        for row in prompts.itertuples():
            assert row.prompt.endswith(ending[language[row.prompt_hash]]), (model, row.prompt[-60:])
            assert ("(A) " in row.prompt and "(B) " in row.prompt)
        if model == "qwen2.5-7b-instruct":
            # the prefill's own ids after the template's: encoded alone, as the paper's code appends it
            assert all(list(ids[-len(prefill):]) == prefill for ids in prompts["token_ids"])
            assert all(tokenizer.decode(ids[:-len(prefill)]).endswith(generation_prompt) for ids in prompts["token_ids"])
        meta = read_provenance(study / "results" / "prompts" / model / "country_pairs.parquet")["prompts"]
        assert meta["answer_prefill"] == ("(" if model == "qwen2.5-7b-instruct" else None)
        assert meta["chat_template_applied"] is model.endswith("-instruct")


# ---- (b) a model that always prefers "A" ----

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

    def plain(user, assistant_prefix=""):
        return user + "\nAnswer:"
    plain.chat = False

    def chat(user, assistant_prefix=""):
        return f"<user>{user}</user>"

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


# ---- (c) the statistics on hand-computed inputs ----

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


# ---- (d) the full study plans offline ----

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
