"""The global-representation study from the authors' released outputs: converters on
small fixtures in the released formats (written here, never the authors' files), the
checksum check, the paper's statistics on hand-computed inputs, and the released
study's whole DAG on the fixtures."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignshift import data
from alignshift.data import released
from alignshift.data.checks import DataError
from alignshift.probes import resolve_spec
from alignshift.probes.country_rank import metrics as country_rank
from alignshift.probes.extractive_qa import metrics as extractive_qa
from alignshift.probes.opinions import metrics as opinions
from alignshift.probes.released_outputs import released_scores
from conftest import STUDIES, assert_figures_built, model_table, plan_study, read_metrics, run_snakemake, write_config

SEVEN = ["United States", "China", "Jordan", "Brazil", "Nigeria", "Germany", "Australia"]
# the ranking is among these (the study's `countries`); Aruba is in the files, not in the list
COUNTRIES = ["Morocco", "United States of America", "France", "North Korea"]
# reward per question for Aruba, Morocco, USA, France, North Korea; questions 0 and 2 are
# positive (highest reward = rank 1), question 1 negative (lowest reward = rank 1):
# ranks Morocco 1,1,2 (4/3); USA 2,2,1 (5/3); France 3,3,3; North Korea 4,4,4
REWARDS = [[10, 3, 2, 1, 0], [10, 0, 1, 3, 5], [10, 2, 3, 1, 0]]
SENTIMENTS = ["positive", "negative", "positive"]
MEAN_RANKS = {"Morocco": 4 / 3, "United States of America": 5 / 3, "France": 3.0, "North Korea": 4.0}
STEMS = {"base": "Base-7b_8bit", "chat": "Chat-7b_8bit"}


def _askreddit(values, reward: bool) -> pd.DataFrame:
    meta = {"Question": ["Best food?", "Worst trip?", "Kindest people?"], "Full Prompt": ["p"] * 3,
            ("reward_model" if reward else "model"): "x", "Search Query": "q", "Sentiment": SENTIMENTS,
            "Response Format": ["{country} has the best food.", "{country} was bad.", "I think {country} is kind."],
            "Category": "c", "seed": 221, "add_article": 1}
    if not reward:
        meta["use_chat_template"] = 1
    frame = pd.DataFrame(meta)
    for j, country in enumerate(["Aruba", *COUNTRIES]):
        frame[country] = [row[j] for row in values]
    return frame


def write_release(root: Path) -> Path:
    """A repository tree in the released layout with two LMs and the reward model."""
    out = root / "repo"
    files = {}
    # GlobalOpinionsQA: q0000 and q0002 asked in all seven countries, q0001 not in Jordan
    sims = [dict.fromkeys(SEVEN, 0.5) | {"United States": 0.9, "Jordan": 0.6, "Albania": 0.3},
            dict.fromkeys(SEVEN, 0.5) | {"Jordan": -1.0, "Albania": -1.0},
            dict.fromkeys(SEVEN, 0.5) | {"United States": 0.8, "Jordan": 0.7, "Albania": -1.0}]
    for model, shift in (("base", 0.0), ("chat", 0.1)):
        rows = [{"question": f"Q{i}?", "options": str(["Yes", "No"]), "probs": str([0.25, 0.75]),
                 "model_id": model, "load_8bit": True, "max_choice": 0, "chose_first": True, "chose_last": False,
                 "chose_middle": False, **{c: (v - shift if c == "Jordan" and v >= 0 else v)
                                           for c, v in sorted(s.items())}} for i, s in enumerate(sims)]
        files[f"outputs/globalopinionsqa/{STEMS[model]}.csv"] = pd.DataFrame(rows).to_csv(index=False)
        # the LMs' mean NLL: the negated rewards, so positive questions favour low NLL
        nll = [[-v + (0.5 if model == "chat" else 0.0) for v in row] for row in REWARDS]
        files[f"outputs/ask-reddit-perplexity-testing/{STEMS[model]}-reformatted.csv"] = \
            _askreddit(nll, reward=False).to_csv(index=False)
        md3 = pd.DataFrame({
            "model": model, "load_8bit": True, "prompt_mode": "no_answers", "seed": 221,
            "dialect": ["en_in", "en_in", "en_us", "en_us"], "correct_answer_prob": 0.1, "distractor_probs": "[0.2]",
            "generated_answer": ["Cat", "", "dog", "a cat"], "chose_correct_answer": False,
            "chose_correct_answer_num": 0, "generated_correct_answer": [True, False, True, False],
            "generated_correct_answer_num": [1, 0, 1, 0] if model == "base" else [1, 1, 1, 1],
            "transcript": ["Speaker0: meow", "Speaker0: purr", "Speaker1: bark", "Speaker0: meow"],
            "correct_answer": ["Cat", "Cat", "Dog", "Cat"], "distractors": "['pet']"})
        files[f"outputs/md3-game/{STEMS[model]}-no-answers.csv"] = md3.to_csv(index=False)
        answers = {"english-1": "the Eiffel\ntower\n\nContext: more text",
                   "english-2": "in 1900" if model == "base" else "1889\n\nContext: x"}
        files[f"outputs/tydiqa-goldp/{{{STEMS[model]}}}/greedy/1-shot/english.json"] = json.dumps(answers)
    files["outputs/ask-reddit-reward-testing/rm-reformatted.csv"] = _askreddit(REWARDS, reward=True).to_csv(index=False)
    files["outputs/reward-testing/where_from_rm.csv"] = pd.DataFrame({
        "country": ["Aruba", *COUNTRIES], "prompt": "p", "reward": [9.0, 2.0, 1.0, 0.5, -3.0], "seed": 221,
        "reward_model": "rm", "prompt_id": "default", "add_article": 1}).to_csv(index=False)
    files["data/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-english.json"] = json.dumps({"data": [{"paragraphs": [{
        "context": "The Eiffel tower was built in 1889.",
        "qas": [{"id": "english-1", "question": "What?", "answers": [{"text": "Eiffel tower", "answer_start": 4}]},
                {"id": "english-2", "question": "When?", "answers": [{"text": "1889", "answer_start": 30}]}]}]}]})
    files["code/analysis/ask-reddit-correlation.py"] = (
        "import pandas as pd\n"
        f"countries_filter = {COUNTRIES!r}\n"
        "us_preferred_countries = ['France', 'Morocco', 'North Korea']\n"
        "us_preferred_countries_2017 = ['Morocco', 'France', 'North Korea']\n"
        "print(countries_filter)\n")
    for path, text in files.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text, encoding="utf-8")
    return out


def checksums(repo: Path) -> dict[str, str]:
    return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest() for p in repo.rglob("*") if p.is_file()}


def source(tmp_path, repo: Path, **kw) -> dict:
    return {"repo": "owner/name", "commit": "c0ffee", "base": repo.as_uri(), "sha256": checksums(repo),
            "cache_dir": str(tmp_path / "cache"), **kw}


@pytest.fixture
def repo(tmp_path):
    return write_release(tmp_path)


def convert(tmp_path, repo, probe, files, **tables):
    return released_scores("m", probe, {"files": {probe: files}}, source(tmp_path, repo),
                           resolve_spec(probe, None), tables)


# --- the converters ----------------------------------------------------------------------

def test_opinions_keep_questions_asked_in_all_seven_with_the_released_similarities(tmp_path, repo):
    table, provenance = convert(tmp_path, repo, "opinions", "outputs/globalopinionsqa/Base-7b_8bit.csv")
    assert table["item"].unique().tolist() == ["q0000", "q0002"]  # q0001 was not asked in Jordan
    assert table["candidate"].tolist() == ["A", "B"] * 2
    np.testing.assert_allclose(np.exp(table["logprob_mean"]), [0.25, 0.75] * 2)
    assert json.loads(table["similarities"].iloc[0]) == dict.fromkeys(SEVEN, 0.5) | {"United States": 0.9,
                                                                                    "Jordan": 0.6}
    assert provenance["commit"] == "c0ffee" and provenance["files"][0]["sha256"] == \
        checksums(repo)["outputs/globalopinionsqa/Base-7b_8bit.csv"]


def test_country_rank_rows_are_the_study_countries_with_minus_the_mean_nll(tmp_path, repo):
    countries = pd.DataFrame({"country": COUNTRIES})
    table, _ = convert(tmp_path, repo, "country_rank", "outputs/ask-reddit-perplexity-testing/Base-7b_8bit-reformatted.csv",
                       countries=countries)
    assert set(table["candidate"]) == set(COUNTRIES)  # Aruba is in the file, not in the study
    assert table["item"].unique().tolist() == ["ar000", "ar001", "ar002"]
    row = table[(table.item == "ar001") & (table.candidate == "North Korea")].iloc[0]
    assert row["logprob_mean"] == 5.0 and row["sentiment"] == "negative"  # released NLL -5
    reward, _ = convert(tmp_path, repo, "country_rank", "outputs/ask-reddit-reward-testing/rm-reformatted.csv",
                        countries=countries)
    assert reward.set_index(["item", "candidate"]).loc[("ar002", "France"), "reward"] == 1.0
    assert "logprob_mean" not in reward


def test_md3_accuracy_reads_generated_correct_answer_num(tmp_path, repo):
    table, _ = convert(tmp_path, repo, "dialect_intent", "outputs/md3-game/Base-7b_8bit-no-answers.csv")
    assert table["correct"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert table["answer"].tolist() == ["Cat", "", "dog", "a cat"]
    assert table["item"].is_unique and table["item"].str.startswith("en_").all()


def test_tydiqa_answer_is_cut_at_the_first_blank_line_and_scored(tmp_path, repo):
    table, provenance = convert(tmp_path, repo, "extractive_qa",
                                {"path": "outputs/tydiqa-goldp/{Chat-7b_8bit}/greedy/1-shot", "languages": ["english"]})
    assert table["answer"].tolist() == ["the Eiffel\ntower", "1889"]
    # a first-line cut ("the Eiffel") would give F1 2/3
    assert table["f1"].tolist() == [1.0, 1.0] and table["em"].tolist() == [1.0, 1.0]
    assert list(table["gold"].iloc[0]) == ["Eiffel tower"] and table["language"].tolist() == ["english"] * 2
    # the braces of the authors' folder names reach the file:// URL percent-encoded
    assert "%7BChat-7b_8bit%7D" in provenance["files"][1]["downloaded_from"]


def test_a_model_without_a_file_for_the_probe_gets_an_empty_table(tmp_path, repo):
    table, _ = released_scores("m", "where_from", {"files": {}}, source(tmp_path, repo),
                               resolve_spec("where_from", None))
    assert table.empty


def test_a_file_with_another_checksum_is_refused_and_removed(tmp_path, repo):
    path = "outputs/md3-game/Base-7b_8bit-no-answers.csv"
    src = source(tmp_path, repo, sha256={path: "0" * 64})
    with pytest.raises(DataError, match="sha256"):
        released_scores("m", "dialect_intent", {"files": {"dialect_intent": path}}, src,
                        resolve_spec("dialect_intent", None))
    assert not (tmp_path / "cache" / "owner+name" / "c0ffee" / path).exists()


def test_the_pinned_commit_has_recorded_checksums():
    known = released.known_sha256(released.SALT_REPO, released.SALT_COMMIT)
    assert known["outputs/globalopinionsqa/Llama-2-7b-hf_8bit.csv"] == \
        "40d6eefe46e7127bedd0f3dc078f1e665eb2c59b4805ef2cafea43756feeff00"
    assert sum(p.startswith("outputs/tydiqa-goldp/") for p in known) == 13 * 9


def test_lists_of_the_authors_analysis_code_are_read_without_running_it(tmp_path, repo):
    src = source(tmp_path, repo)
    countries = data.prepare({"loader": "released_list", "file": "code/analysis/ask-reddit-correlation.py",
                              "name": "countries_filter", **src})
    assert countries["country"].tolist() == COUNTRIES
    assert countries.attrs["revision"].startswith("owner/name@c0ffee:code/analysis/ask-reddit-correlation.py")
    orders = data.prepare({"loader": "released_orders", "file": "code/analysis/ask-reddit-correlation.py",
                           "lists": {"2023": "us_preferred_countries", "2017": "us_preferred_countries_2017"}, **src})
    assert orders[orders.order == "2017"].sort_values("rank")["country"].tolist() == ["Morocco", "France",
                                                                                      "North Korea"]


# --- the paper's statistics --------------------------------------------------------------

def _js_distance(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = (p + q) / 2

    def kl(a, b):
        return sum(x * math.log(x / y) for x, y in zip(a, b) if x > 0)

    return math.sqrt((kl(p, m) + kl(q, m)) / 2)


def test_opinions_use_the_mean_nll_per_token_and_the_natural_log():
    # option A: 2 tokens, log-prob sum -2 (mean -1); option B: 1 token, -1.5. By the mean
    # A is the likelier answer, by the sum B is.
    scores = pd.DataFrame({"model": "m", "item": "q0", "candidate": ["A", "B"], "logprob_sum": [-2.0, -1.5],
                           "n_tokens": [2, 1], "logprob_mean": [-1.0, -1.5],
                           "distributions": json.dumps({"United States": [1.0, 0.0], "Jordan": [0.0, 1.0]})})
    table = opinions.metrics(scores, model_table({"m": None}), resolve_spec("opinions", None)).set_index("country")
    p = np.exp([-1.0, -1.5]) / np.exp([-1.0, -1.5]).sum()
    assert table.loc["United States", "similarity"] == pytest.approx(1 - _js_distance(p, [1, 0]), abs=1e-12)
    assert table.loc["Jordan", "minus_ref"] == pytest.approx(_js_distance(p, [1, 0]) - _js_distance(p, [0, 1]),
                                                             abs=1e-12)
    assert table.loc["Jordan", "minus_ref"] < 0  # the mean favours A, the USA's answer


def test_released_opinion_gaps_are_averaged_per_question(tmp_path, repo):
    tables = [convert(tmp_path, repo, "opinions", f"outputs/globalopinionsqa/{STEMS[m]}.csv")[0].assign(model=m)
              for m in ("base", "chat")]
    table = opinions.metrics(pd.concat(tables), model_table({"base": None, "chat": "base"}),
                             resolve_spec("opinions", None))
    jordan = table[table.country == "Jordan"].set_index("model")
    # base: mean(0.6 - 0.9, 0.7 - 0.8) = -0.2; chat: 0.1 lower on both questions
    assert jordan.loc["base", "minus_ref"] == pytest.approx(-0.2)
    assert jordan.loc["chat", "minus_ref"] == pytest.approx(-0.3)
    assert jordan.loc["chat", "delta"] == pytest.approx(-0.1)


def _rank_scores(tmp_path, repo):
    countries = pd.DataFrame({"country": COUNTRIES})
    parts = [convert(tmp_path, repo, "country_rank", f"outputs/ask-reddit-perplexity-testing/{STEMS[m]}-reformatted.csv",
                     countries=countries)[0].assign(model=m) for m in ("base", "chat")]
    parts.append(convert(tmp_path, repo, "country_rank", "outputs/ask-reddit-reward-testing/rm-reformatted.csv",
                         countries=countries)[0].assign(model="rm"))
    return pd.concat(parts, ignore_index=True)


def test_country_ranks_follow_each_question_sentiment(tmp_path, repo):
    scores = _rank_scores(tmp_path, repo)
    table = country_rank.metrics(scores, model_table({"base": None, "chat": "base", "rm": None}),
                                 resolve_spec("country_rank", None))
    for model in ("base", "chat", "rm"):
        got = table[table.model == model].set_index("country")["mean_rank"]
        assert got.to_dict() == pytest.approx(MEAN_RANKS)
    tables = country_rank.tables(scores, model_table({"base": None, "chat": "base", "rm": None}),
                                 resolve_spec("country_rank", None))
    usa = tables["standing"].set_index(["model", "country"]).loc[("rm", "United States of America")]
    assert usa["position"] == 2 and usa["outranks"] == pytest.approx(2 / 3)  # France, North Korea of 3
    assert tables["correlation"].set_index(["model_a", "model_b"]).loc[("base", "rm"), "rho"] == pytest.approx(1.0)


def test_reference_orders_give_spearman_and_table3(tmp_path, repo):
    scores = _rank_scores(tmp_path, repo)
    orders = pd.DataFrame({"order": ["2023"] * 3 + ["2017"] * 3, "rank": [1, 2, 3] * 2,
                           "country": ["France", "Morocco", "North Korea", "Morocco", "France", "North Korea"]})
    out = country_rank.reference_tables(scores, model_table({"base": None, "chat": "base", "rm": None}),
                                        resolve_spec("country_rank", None), orders)
    rho = out["correlation"].set_index(["model", "order", "countries"])["rho"]
    # model order Morocco, France, North Korea: against 2023 (France, Morocco, NK) the
    # rank differences are 1, 1, 0 -> rho = 1 - 6 * 2 / (3 * 8) = 0.5; 2017 is the same order
    assert rho[("rm", "2023", "order")] == pytest.approx(0.5)
    assert rho[("rm", "2017", "order")] == pytest.approx(1.0)
    ranks = out["ranks"][out["ranks"].model == "rm"].set_index("country")
    assert ranks["final"].to_dict() == {"Morocco": 1, "France": 2, "North Korea": 3}
    assert ranks["order_2023"].to_dict() == {"Morocco": 2, "France": 1, "North Korea": 3}
    assert ranks.loc["Morocco", "mean_rank"] == pytest.approx(4 / 3)


def test_tydiqa_cfmatch_is_the_best_probability_in_the_units_of_f1():
    scores = pd.DataFrame({"model": ["base"] * 2 + ["chat"] * 2, "item": ["a", "b"] * 2, "language": "bengali",
                           "f1": [1.0, 0.0, 1.0, 0.0], "em": [1.0, 0.0, 1.0, 0.0], "cfmatch": [1.0, 0.0, 1.0, 0.0],
                           "cfmatch_score": [0.9, 0.2, 0.7, 0.1]})
    table = extractive_qa.metrics(scores, model_table({"base": None, "chat": "base"}), {})
    chat = table[(table.model == "chat") & (table.measure == "cfmatch")].iloc[0]
    assert chat["value"] == pytest.approx(0.40) and chat["delta"] == pytest.approx(-0.15)
    # one unit in the table: every measure and exact match in 0..1
    assert table["value"].between(0, 1).all() and table["em"].between(0, 1).all()


# --- the released study ------------------------------------------------------------------

RELEASED_STUDY = STUDIES / "global-representation-released.yaml"


def test_released_study_plans_offline_with_nothing_fetched_or_evaluated():
    counts = plan_study(RELEASED_STUDY)
    assert counts["released_scores"] == 14  # one job per model (evaluation.job_per: model), every probe
    assert counts["reference_orders_country_rank"] == 1 and counts["cfmatch"] == 14
    assert "evaluate" not in counts and "fetch_model" not in counts


def fixture_study(tmp_path, repo) -> dict:
    src = source(tmp_path, repo, format="unintended_impacts")
    files = lambda m: {"opinions": f"outputs/globalopinionsqa/{STEMS[m]}.csv",  # noqa: E731
                       "country_rank": f"outputs/ask-reddit-perplexity-testing/{STEMS[m]}-reformatted.csv",
                       "dialect_intent": f"outputs/md3-game/{STEMS[m]}-no-answers.csv",
                       "extractive_qa": {"path": f"outputs/tydiqa-goldp/{{{STEMS[m]}}}/greedy/1-shot",
                                         "languages": ["english"]}}
    # the lists name no source: they read the study's `released` one (a local copy here)
    lists = {"file": "code/analysis/ask-reddit-correlation.py"}
    return {
        "seed": 0, "threads": {"finetune": 1, "evaluate": 1}, "released": src,
        "models": {
            "base": {"id": "x/base", "stage": "base", "chat_template": False, "released": {"files": files("base")}},
            "chat": {"id": "x/chat", "stage": "pt", "parent": "base", "released": {"files": files("chat")}},
            "rm": {"id": "x/rm", "stage": "rm", "kind": "reward_model", "released": {"files": {
                "country_rank": "outputs/ask-reddit-reward-testing/rm-reformatted.csv",
                "where_from": "outputs/reward-testing/where_from_rm.csv"}}}},
        "datasets": {"countries": {"loader": "released_list", "name": "countries_filter", **lists},
                     "gallup": {"loader": "released_orders", **lists,
                                "lists": {"2023": "us_preferred_countries", "2017": "us_preferred_countries_2017"}}},
        "finetune": {},
        "probes": {"opinions": {}, "country_rank": {"analysis": {"reference_orders": "gallup"}}, "where_from": {},
                   "extractive_qa": {}, "dialect_intent": {}},
        "figures": ["opinion_similarity", "dialect_accuracy", "country_rank_correlation", "tydiqa_change",
                    "country_rewards"],
    }


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("released-study")
    repo = write_release(workdir)
    write_config(workdir, fixture_study(workdir, repo))
    result = run_snakemake(workdir, "--cores", "1", timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_released_study_draws_the_figures_and_tables_from_the_released_files(study):
    assert_figures_built(study, ["opinion_similarity", "dialect_accuracy", "country_rank_correlation", "tydiqa_change",
                                 "country_rewards"])
    dialect = read_metrics(study, "dialect_intent").set_index(["model", "dialect"])
    assert dialect.loc[("base", "en_in"), "accuracy"] == 0.5 and dialect.loc[("chat", "en_us"), "delta"] == 0.5
    standing = read_metrics(study, "country_rank_standing")
    rm = standing[standing.model == "rm"].set_index("country")
    assert rm["mean_rank"].to_dict() == pytest.approx(MEAN_RANKS)
    assert rm.loc["United States of America", "outranks"] == pytest.approx(2 / 3)
    reference = read_metrics(study, "country_rank_reference").set_index(["model", "order", "countries"])
    assert reference.loc[("rm", "2023", "order"), "rho"] == pytest.approx(0.5)  # the order's name is text
    table3 = read_metrics(study, "country_rank_reference_ranks")
    assert table3[table3.model == "rm"]["country"].tolist() == ["Morocco", "France", "North Korea"]
    gaps = read_metrics(study, "opinions").set_index(["model", "country"])
    assert gaps.loc[("chat", "Jordan"), "minus_ref"] == pytest.approx(-0.3)
    qa = read_metrics(study, "extractive_qa").set_index(["model", "measure", "language"])
    assert qa.loc[("chat", "f1", "english"), "delta"] == pytest.approx(0.5)  # "1889" right after "in 1900"
    where = read_metrics(study, "where_from")
    assert set(where["model"]) == {"rm"}  # the LMs have no released where-from file: empty tables
    assert where.set_index("country")["value"].to_dict() == {"Morocco": 2.0, "United States of America": 1.0,
                                                             "France": 0.5, "North Korea": -3.0}
    assert not (study / "resources" / "models").exists()  # nothing fetched


def test_released_study_figures_read_at_a_papers_width(study):
    from figure_checks import assert_paper_ready

    assert_paper_ready(study, fixture_study(study, study / "repo")["figures"])


def test_the_lists_read_the_repository_of_the_studys_released_source(study):
    # one setting, `released.base`, moves the released files and the datasets to a local copy
    from alignshift.provenance import read_provenance

    release = fixture_study(study, study / "repo")["released"]
    for name in ("countries", "gallup"):
        prepared = read_provenance(study / "results" / "data" / f"{name}.parquet")
        assert {k: prepared["source"][k] for k in released.SOURCE_KEYS} == \
            {k: release[k] for k in released.SOURCE_KEYS}, name
        assert prepared["revision"].startswith("owner/name@c0ffee:code/analysis/ask-reddit-correlation.py sha256:")
    assert (study / "cache" / "owner+name" / "c0ffee" / "code" / "analysis" / "ask-reddit-correlation.py").is_file()


def test_a_released_list_follows_the_studys_source_unless_it_names_another_repository():
    entry = {"loader": "released_list", "file": "code/analysis/ask-reddit-correlation.py", "name": "countries_filter"}
    local = {"commit": released.SALT_COMMIT, "base": "/data/salt-copy", "cache_dir": "cache"}
    assert released.dataset_spec(entry, local)["base"] == "/data/salt-copy"
    assert not data.downloads(released.dataset_spec(entry, local)) and data.downloads(entry)
    assert released.dataset_spec({**entry, "base": "/mine"}, local)["base"] == "/mine"  # the entry's own wins
    other = {"repo": "recozers/LLM-Bias", "commit": "072e715", "base": "/data/llm-bias"}
    salt = {**entry, "repo": released.SALT_REPO}
    assert released.dataset_spec(salt, other) == salt  # another repository than the study's: its own source
    assert released.dataset_spec(entry, None) == entry  # no `released`: the defaults (SALT at its commit)
