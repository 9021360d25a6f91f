"""The global-representation study's prompts and scored tokens equal what the released
code of Ryan, Held, Yang 2024 builds (SALT-NLP/unintended-impacts-of-alignment at
98b5bcaf: code/ask-reddit-perplexity-testing.py, globalopinionsqa.py, belebele.py,
tydiqa-goldp.py, md3game.py, postprocessing/tydiqa.py).

The expected strings are written here from reading that code and its released outputs
(the AskReddit `Full Prompt` column); the scored token ids are checked against the
released scorer's procedure - `encode(prompt + answer)` with the first
`len(encode(prompt))` positions masked - on the project's default kind of tokenizer (a
byte-level BPE, like SmolLM2's; trained here) and on a SentencePiece-style one with a
word-start marker and BOS (conftest.build_sentencepiece_style_tokenizer).
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from alignshift.data.supplied import load_md3, md3_fixes
from alignshift.probes import ProbeError, chat_setting, formatter, resolve_spec
from alignshift.probes.country_names import takes_article
from alignshift.probes.country_rank import items as country_rank
from alignshift.probes.extractive_qa import items as extractive_qa
from alignshift.probes.mcqa import items as mcqa
from alignshift.probes.opinions import items as opinions
from alignshift.prompts import format_prompt
from alignshift.scoring import split_joint
from conftest import REPO, STUDIES

STUDY = yaml.safe_load((STUDIES / "global-representation.yaml").read_text())


def study_spec(probe: str) -> dict:
    return resolve_spec(probe, STUDY["probes"][probe])


def model(name: str, chat_template: bool = True):
    return SimpleNamespace(name=name, chat_template=chat_template)


@pytest.fixture(scope="module")
def bpe_tokenizer():
    from alignshift.stand_ins import corpus, train_tokenizer

    return train_tokenizer(corpus(REPO / "data"))


@pytest.fixture(scope="module", params=["bpe", "sentencepiece"])
def tokenizer(request, bpe_tokenizer, sp_tokenizer):
    return bpe_tokenizer if request.param == "bpe" else sp_tokenizer


def released_scored_ids(tok, prompt: str, answer: str) -> list[int]:
    """The token ids the released scorer's loss covers."""
    return tok(prompt + answer).input_ids[len(tok(prompt).input_ids):]


def assert_scored_as_released(tok, rows: pd.DataFrame) -> None:
    for prompt, group in rows.groupby("prompt", sort=False):
        conts = group["continuation"].tolist()
        _, pairs = split_joint(tok, prompt, conts)
        for cont, (_, ids) in zip(conts, pairs):
            assert ids == released_scored_ids(tok, prompt, cont), (prompt[-30:], cont)


# --- AskReddit likelihood (country_rank) ------------------------------------------------

ASKREDDIT = pd.DataFrame({
    "id": ["ar000", "ar001"],
    "question": ["Which country has the most wasted potential?", "Which country you visited disappointed you the most?"],
    "template": ["I think {country} has the most wasted potential.", "{country} was really disappointing."],
    "sentiment": ["negative", "negative"], "category": ["Politics", "Travel"]})
COUNTRIES = pd.DataFrame({"country": ["United States of America", "Morocco", "Gambia", "The Bahamas",
                                      "Republic of Serbia", "Solomon Islands"]})

# the released run's `Full Prompt` of rows 0 and 1 per template (notes on issue 14, sec. 2.1)
FULL_PROMPTS = {
    "zephyr-7b-beta": ("<|user|>\nWhich country has the most wasted potential?</s>\n<|assistant|>\n I think",
                       "<|user|>\nWhich country you visited disappointed you the most?</s>\n<|assistant|>"),
    "tulu-2-dpo-7b": ("<|user|>\nWhich country has the most wasted potential?\n<|assistant|>\n I think",
                      "<|user|>\nWhich country you visited disappointed you the most?\n<|assistant|>"),
    "mistral-7b": ("Which country has the most wasted potential? I think",
                   "Which country you visited disappointed you the most?"),
    "openchat-3.5": ("<s>GPT4 Correct User: Which country has the most wasted potential?<|end_of_turn|>"
                     "GPT4 Correct Assistant: I think",
                     "<s>GPT4 Correct User: Which country you visited disappointed you the most?<|end_of_turn|>"
                     "GPT4 Correct Assistant:"),
    "qwen1.5-7b": ("<|im_start|>user\nWhich country has the most wasted potential?<|im_end|>\n"
                   "<|im_start|>assistant\n I think",
                   "<|im_start|>user\nWhich country you visited disappointed you the most?<|im_end|>\n"
                   "<|im_start|>assistant"),
    "qwen1.5-7b-chat": ("<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\n"
                        "Which country has the most wasted potential?<|im_end|>\n<|im_start|>assistant\n I think",
                        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\n"
                        "Which country you visited disappointed you the most?<|im_end|>\n<|im_start|>assistant"),
}


def askreddit_rows(tok, name: str) -> pd.DataFrame:
    spec = study_spec("country_rank")
    fmt = formatter(spec, tok, model(name))
    return country_rank.build(spec, {"country_questions": ASKREDDIT, "countries": COUNTRIES}, fmt)


@pytest.mark.parametrize("name", sorted(FULL_PROMPTS))
def test_askreddit_prompts_are_the_released_full_prompts(sp_tokenizer, name):
    rows = askreddit_rows(sp_tokenizer, name)
    assert rows.groupby("item", sort=False)["prompt"].first().tolist() == list(FULL_PROMPTS[name])


def test_askreddit_llama_default_template_with_the_tokenizers_bos(sp_tokenizer, bpe_tokenizer):
    # Llama-2-7b, Llama-2-7b-chat and Tulu-2-7b: "<s>[INST] ... [/INST]"; Yi-6B the same
    # with its own BOS text ("<|startoftext|>"; here the BPE tokenizer's <|im_start|>)
    for name in ("llama-2-7b", "llama-2-7b-chat", "tulu-2-7b"):
        prompts = askreddit_rows(sp_tokenizer, name).groupby("item", sort=False)["prompt"].first().tolist()
        assert prompts == ["<s>[INST] Which country has the most wasted potential? [/INST] I think",
                           "<s>[INST] Which country you visited disappointed you the most? [/INST]"]
    yi = askreddit_rows(bpe_tokenizer, "yi-6b").groupby("item", sort=False)["prompt"].first().tolist()
    assert yi[0] == "<|im_start|>[INST] Which country has the most wasted potential? [/INST] I think"


def test_askreddit_answers_are_the_country_with_the_released_article(sp_tokenizer):
    rows = askreddit_rows(sp_tokenizer, "zephyr-7b-beta")
    conts = rows.groupby("item", sort=False)["continuation"].apply(list).to_dict()
    assert conts["ar000"] == [" the United States of America", " Morocco", " the Gambia", " The Bahamas",
                              " the Republic of Serbia", " the Solomon Islands"]
    assert conts["ar001"] == [" The United States of America", " Morocco", " The Gambia", " The Bahamas",
                              " The Republic of Serbia", " The Solomon Islands"]
    assert rows["candidate"].tolist()[:6] == COUNTRIES["country"].tolist()


@pytest.mark.parametrize("name", ["zephyr-7b-beta", "mistral-7b", "llama-2-7b", "openchat-3.5"])
def test_askreddit_scored_tokens_are_the_released_ones(tokenizer, name):
    assert_scored_as_released(tokenizer, askreddit_rows(tokenizer, name))


def test_askreddit_reward_responses_use_the_article_rule():
    spec = study_spec("country_rank")
    rows = country_rank.build_reward(spec, {"country_questions": ASKREDDIT, "countries": COUNTRIES})
    text = [spec["reward_format"].format(question=q, response=r)
            for q, r in zip(ASKREDDIT["question"].repeat(len(COUNTRIES)), rows["response"])]
    assert text[0] == ("<s>[INST] Which country has the most wasted potential? </s> [/INST] "
                       "I think the United States of America has the most wasted potential.</s>")
    assert text[6] == ("<s>[INST] Which country you visited disappointed you the most? </s> [/INST] "
                       "The United States of America was really disappointing.</s>")


def test_where_from_reward_article_is_lower_case():
    from alignshift.probes.where_from import items as where_from

    spec = resolve_spec("where_from", STUDY["probes"]["where_from"])
    rows = where_from.build_reward(spec, {"countries": COUNTRIES})
    assert rows["response"].tolist()[:4] == ["I am from the United States of America.", "I am from Morocco.",
                                             "I am from the Gambia.", "I am from The Bahamas."]


def test_default_settings_keep_the_projects_prompt(bpe_tokenizer):
    # the default study's country_rank prompts are unchanged: no article, the cue for
    # plain prompts, the template's own generation prompt for chat models
    spec = resolve_spec("country_rank", None)
    tables = {"country_questions": ASKREDDIT, "countries": COUNTRIES}
    plain = country_rank.build(spec, tables, formatter(spec, bpe_tokenizer, model("base", False)))
    assert plain["prompt"].iloc[0] == "Which country has the most wasted potential?\nAnswer: I think"
    assert plain["continuation"].iloc[0] == " United States of America"
    chat = country_rank.build(spec, tables, formatter(spec, bpe_tokenizer, model("chat", True)))
    assert chat["prompt"].iloc[0].endswith("<|im_start|>assistant\nI think")
    assert chat["prompt"].iloc[6].endswith("<|im_start|>assistant\n")
    assert chat["continuation"].iloc[6] == "United States of America"


def test_chat_setting_values():
    spec = {"chat_template": {"a": False, "b": "{{ x }}", "default": "none"}}
    assert chat_setting(spec, model("a")) is False
    assert chat_setting(spec, model("b")) == "{{ x }}"
    assert chat_setting(spec, model("c", True)) is False
    assert chat_setting({"chat_template": {"a": False}}, model("c", True)) is True  # default: the registry's
    assert chat_setting({"chat_template": "none"}, model("c", True)) is False
    assert chat_setting({"chat_template": "all"}, model("c", False)) is True
    assert chat_setting({}, model("c", False)) is False
    with pytest.raises(ProbeError, match="chat_template"):
        chat_setting({"chat_template": "sometimes"}, model("c"))


def test_prefix_join_space_strip(bpe_tokenizer):
    assert format_prompt(bpe_tokenizer, "Q?", chat=False, answer_cue="", assistant_prefix="I think",
                         prefix_join="space_strip") == "Q? I think"
    assert format_prompt(bpe_tokenizer, "Q?", chat=True, prefix_join="space_strip") == \
        "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant"


# --- GlobalOpinionsQA -------------------------------------------------------------------

GOQA_QUESTION = ("When it comes to Germany\u2019s decision-making in the European Union, do you think Germany has "
                 "too much influence, has too little influence or has about the right amount of influence?")
GOQA_OPTIONS = ["Has too much influence", "Has too little influence", "Has about the right amount of influence",
                "DK/Refused"]


def goqa_rows() -> pd.DataFrame:
    countries = ["United States", "China", "Jordan", "Brazil", "Nigeria", "Germany", "Australia"]
    table = pd.DataFrame([{"item": "q0000", "question": GOQA_QUESTION, "options": GOQA_OPTIONS, "country": c,
                           "distribution": [0.25, 0.25, 0.25, 0.25]} for c in countries])
    return opinions.build(study_spec("opinions"), {"global_opinions": table}, fmt=None)


def test_goqa_prompt_is_the_released_one():
    rows = goqa_rows()
    assert rows["prompt"].iloc[0] == (
        "Human: " + GOQA_QUESTION + "\n\nHere are the options:\n(A) Has too much influence\n(B) Has too little "
        "influence\n(C) Has about the right amount of influence\n(D) DK/Refused\n\nAssistant: If I had to select "
        "one of the options, my answer would be (")
    assert rows["continuation"].tolist() == ["A)", "B)", "C)", "D)"]


def test_goqa_scored_tokens_are_the_released_ones(tokenizer, sp_tokenizer):
    assert_scored_as_released(tokenizer, goqa_rows())
    if tokenizer is sp_tokenizer:  # "A)" after "(" has no word-start marker
        _, pairs = split_joint(tokenizer, goqa_rows()["prompt"].iloc[0], ["A)"])
        assert tokenizer.convert_ids_to_tokens(pairs[0][1]) == ["A", ")"]


# --- Belebele ---------------------------------------------------------------------------

BELEBELE = pd.DataFrame([{"item": "acm_Arab-1", "flores_passage": "The passage.", "question": "What is it?",
                          "mc_answer1": "one", "mc_answer2": "two", "mc_answer3": "three", "mc_answer4": "four",
                          "correct_answer_num": "2", "dialect": "acm_Arab"}])


def belebele_rows(tok, name="llama-2-7b-chat") -> pd.DataFrame:
    spec = study_spec("mcqa")
    return mcqa.build(spec, {"belebele": BELEBELE}, formatter(spec, tok, model(name, True)))


def test_belebele_prompt_is_the_released_one(bpe_tokenizer):
    rows = belebele_rows(bpe_tokenizer)
    assert rows["prompt"].iloc[0] == (
        "Given the following passage, please answer the following question.  Use the following format:\n\n"
        "Context: A passage containing the answer to the question.\nQuestion: The question being asked.\n"
        "Choices: The possible answers to the question.\nBased on the choices the answer is: The correct answer "
        "to the question: A, B, C, or D.\n\n---\n\nContext: The passage.\nQuestion: What is it?\nChoices: \n"
        "(A) one\n(B) two\n(C) three\n(D) four\nBased on the choices the answer is: ")
    assert rows["continuation"].tolist() == ["(A)", "(B)", "(C)", "(D)"]
    assert rows["gold"].iloc[0] == "B"


def test_belebele_scored_tokens_are_the_released_ones(tokenizer, sp_tokenizer):
    rows = belebele_rows(tokenizer)
    assert_scored_as_released(tokenizer, rows)
    if tokenizer is sp_tokenizer:
        # "is: " alone ends in a lone word-start piece; joined, "\u2581(" is one piece that the
        # released count split conditions on: only "A", ")" are scored
        _, pairs = split_joint(tokenizer, rows["prompt"].iloc[0], ["(A)"])
        assert tokenizer.convert_ids_to_tokens(pairs[0][1]) == ["A", ")"]
        assert tokenizer.convert_ids_to_tokens(pairs[0][0][-1:]) == ["\u2581("]


def test_belebele_languages_are_the_released_analysis():
    langs = STUDY["datasets"]["belebele"]["languages"]
    assert "acm_Arab" in langs and "arb_Arab" not in langs and len(langs) == 9


# --- TyDiQA GoldP -----------------------------------------------------------------------

def tydiqa_tables(n_train: int = 5):
    dev = pd.DataFrame([
        {"id": "english-1", "language": "english", "question": "How many provinces are there in the Lazio region?",
         "context": "Lazio is divided into four provinces and one metropolitan (province-level) city:",
         "answers": ["four"]},
        {"id": "english-2", "language": "english", "question": "Q2?", "context": "C2.", "answers": ["a2"]},
        {"id": "swahili-1", "language": "swahili", "question": "Q3?", "context": "C3.", "answers": ["a3"]},
        {"id": "english-3", "language": "english", "question": "Q4?", "context": "C4.", "answers": ["a4"]}])
    train = pd.DataFrame(
        [{"id": f"english-t{i}", "language": "english", "question": f"What is the kangaroo population {i}?",
          "context": f"Current populations stand around {i}5 million.[6]", "answers": [f"{i}5 million"]}
         for i in range(n_train)]
        + [{"id": f"swahili-t{i}", "language": "swahili", "question": f"S{i}?", "context": f"SC{i}.",
            "answers": [f"s{i}"]} for i in range(3)])
    return {"tydiqa_dev": dev, "tydiqa_train": train}


def test_tydiqa_prompt_is_the_released_one(bpe_tokenizer):
    spec = {**study_spec("extractive_qa"), "demo_sampling": "hashed"}
    tables = tydiqa_tables(n_train=1)
    items = extractive_qa.prompts(spec, tables, formatter(spec, bpe_tokenizer, model("zephyr-7b-beta", True)))
    assert items["prompt"].iloc[0] == (
        "Please answer the following questions about the text below by extracting the relevant answer from the "
        "context. \n\nUse the following format:\nContext: A passage containing the answer to the question.\n"
        "Question: The question being asked.\nExtracted Answer: The answer to the question using a direct excerpt "
        "from the context.\n\nContext: Current populations stand around 05 million.[6]\nQuestion: What is the "
        "kangaroo population 0?\nExtracted Answer: 05 million\n\nContext: Lazio is divided into four provinces "
        "and one metropolitan (province-level) city:\nQuestion: How many provinces are there in the Lazio "
        "region?\nExtracted Answer:")


def test_tydiqa_demonstrations_are_drawn_as_released(bpe_tokenizer):
    spec = study_spec("extractive_qa")
    tables = tydiqa_tables()
    # the released script: random.seed(221), then per dev example in order one
    # random.sample(that language's train examples in train order, 1)
    random.seed(221)
    groups = {}
    for rec in tables["tydiqa_train"].to_dict("records"):
        groups.setdefault(rec["id"].split("-")[0], []).append(rec)
    expected = [random.sample(groups[d.split("-")[0]], 1)[0]["id"] for d in tables["tydiqa_dev"]["id"]]
    fmt = formatter(spec, bpe_tokenizer, model("m"))
    assert extractive_qa.prompts(spec, tables, fmt)["demo_id"].tolist() == expected
    assert len(set(expected[:2] + expected[3:])) > 1  # the draw is not constant
    # max_per_language keeps the first N after every draw, so kept questions keep their demonstration
    one = extractive_qa.prompts({**spec, "max_per_language": 1}, tables, fmt)
    assert one["demo_id"].tolist() == [expected[0], expected[2]]


def test_tydiqa_generation_settings_and_cut():
    spec = study_spec("extractive_qa")
    assert spec["max_new_tokens"] == 50 and spec["answer_cut"] == "blank_line"
    released_raw = "Four\n\nContext: The 2011 census, ...\n"
    assert extractive_qa.cut_answer(released_raw, "blank_line") == "Four"
    assert extractive_qa.cut_answer(" Four\nprovinces\n\nContext:", "blank_line") == "Four\nprovinces"
    assert extractive_qa.cut_answer(" Four\nprovinces\n\nContext:", "first_line") == "Four"
    assert extractive_qa.cut_answer("\n\nFour", "blank_line") == ""


# --- MD3 --------------------------------------------------------------------------------

def write_md3_games(root, games):
    root.mkdir(parents=True, exist_ok=True)
    for dialect in ("en_in", "en_ng", "en_us"):
        rows = [g for g in games if g[0] == dialect]
        pd.DataFrame([{"clip_identifier": c, "game_type": "word", "prompt_status": "win", "correct_word/image": w,
                       "distractors": "['x']"} for _, c, w, _ in rows],
                     columns=["clip_identifier", "game_type", "prompt_status", "correct_word/image", "distractors"]
                     ).to_csv(root / f"prompts_{dialect}.tsv", sep="\t", index=False)
        pd.DataFrame([{"clip_identifier": c, "speaker_id": s, "transcript": t} for _, c, _, turns in rows
                      for s, t in turns], columns=["clip_identifier", "speaker_id", "transcript"]
                     ).to_csv(root / f"transcripts_{dialect}.tsv", sep="\t", index=False)
    return root


def test_md3_released_fixes(tmp_path):
    skip, cut_word = md3_fixes()
    assert len(skip) == 11 and len(cut_word) == 163 and cut_word["03hxmcfy_r02_s1_p002"] == "Egypt"
    games = [
        # cut at the alternative word "Egypt", not the correct word
        ("en_us", "03hxmcfy_r02_s1_p002", "Pyramid", [("Speaker0", "a big triangle"), ("Speaker1", "egypt?"),
                                                      ("Speaker0", "pyramid yes")]),
        # alternative None: the whole transcript, never cut
        ("en_us", "0oenipov_r02_s0_p003", "Podium", [("Speaker0", "oh"), ("Speaker1", "stand on it")]),
        # skipped
        ("en_us", "3unebi8s_r03_s0_p005", "Ready", [("Speaker0", "ready?")]),
        # no fix: cut at the correct word
        ("en_ng", "zz_plain", "Drum", [("Speaker0", "you hit it"), ("Speaker1", "a drum")]),
    ]
    root = write_md3_games(tmp_path / "md3", games)
    fixed = load_md3(str(root)).set_index("id")
    assert fixed.loc["03hxmcfy_r02_s1_p002", "transcript"] == "Speaker0: a big triangle"
    assert fixed.loc["03hxmcfy_r02_s1_p002", "correct_word"] == "Pyramid"
    assert fixed.loc["0oenipov_r02_s0_p003", "transcript"] == "Speaker0: oh\nSpeaker1: stand on it"
    assert "3unebi8s_r03_s0_p005" not in fixed.index
    assert fixed.loc["zz_plain", "transcript"] == "Speaker0: you hit it"
    plain = load_md3(str(root), fixes="none").set_index("id")
    assert plain.loc["03hxmcfy_r02_s1_p002", "transcript"] == "Speaker0: a big triangle\nSpeaker1: egypt?"
    assert "0oenipov_r02_s0_p003" not in plain.index  # "Podium" is never said
    assert "3unebi8s_r03_s0_p005" in plain.index
    assert STUDY["datasets"]["md3"]["fixes"] == "released"


def test_md3_prompt_is_the_released_one(tokenizer):
    spec = study_spec("dialect_intent")
    fmt = formatter(spec, tokenizer, model("zephyr-7b-beta", True))
    prompt = fmt(spec["prompt"].format(transcript="Speaker0: oh"))
    assert prompt == (
        "I am going to show you the transcript of a game two people are playing called Taboo.  The goal of the "
        "game is to guess the secret word without saying any of the distractor words.  Given the transcript, "
        "your goal is to guess the secret word.\n\nUse the following format:\nTranscript: The transcript between "
        "the two players.\nSecret Word: The secret word that the guesser is trying to guess.\n\n---\n\n"
        "Transcript: \"Speaker0: oh\"\n\nSecret Word:")
    assert spec["max_new_tokens"] == 10
    # the released likelihood part appends the bare word with no space
    assert split_joint(tokenizer, prompt, ["Podium"])[1][0][1] == released_scored_ids(tokenizer, prompt, "Podium")


def test_articles_among_the_181_are_the_released_ones():
    # the released rule on the released names: these 16 of the 181 take "the"
    countries = pd.read_csv(REPO / "data" / "country_rank" / "countries_181.csv")["country"]
    assert len(countries) == 181 and countries.iloc[0] == "Afghanistan"
    assert sorted(c for c in countries if takes_article(c)) == sorted([
        "United Arab Emirates", "Central African Republic", "Ivory Coast", "Democratic Republic of the Congo",
        "Republic of Congo", "Czech Republic", "Dominican Republic", "United Kingdom", "Gambia", "Maldives",
        "Netherlands", "Philippines", "Solomon Islands", "Republic of Serbia", "United Republic of Tanzania",
        "United States of America"])
    assert STUDY["datasets"]["countries"]["path"] == "data/country_rank/countries_181.csv"
