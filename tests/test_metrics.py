"""Metric functions on hand-computed examples."""

import math

import numpy as np
import pandas as pd
import pytest

from alignshift import stats
from alignshift.probes.country_pairs import metrics as country_pairs
from alignshift.probes.ideology import metrics as ideology

OPTIONS = ["Strongly disagree", "Disagree", "Agree", "Strongly agree"]
VALUES = [-2, -1, 1, 2]


def likert_rows(model, item, axis, direction, probs_by_order):
    rows = []
    for order, probs in probs_by_order.items():
        for option, value, p in zip(OPTIONS, VALUES, probs):
            rows.append({"model": model, "item": item, "variant": order, "candidate": option, "value": value,
                         "axis": axis, "direction": direction, "logprob_sum": math.log(p)})
    return rows


def test_statement_position_is_expected_likert_value_signed_by_direction():
    # E[v] = 0.1*-2 + 0.2*-1 + 0.3*1 + 0.4*2 = 0.7 (ascending); 0.25 each -> 0 (descending)
    rows = likert_rows("m", "s1", "economic", -1, {"ascending": [0.1, 0.2, 0.3, 0.4],
                                                    "descending": [0.25, 0.25, 0.25, 0.25]})
    pos = ideology.statement_positions(pd.DataFrame(rows))
    assert pos.loc[0, "expected"] == pytest.approx(0.35)
    # agreeing with a left-keyed statement (direction -1) is a left position
    assert pos.loc[0, "position"] == pytest.approx(-0.35 / 2)


def test_softmax_is_over_the_options_only():
    # unnormalised log-probs (other tokens had mass): only ratios matter
    probs = np.array([0.1, 0.2, 0.3, 0.4]) * 0.01
    rows = likert_rows("m", "s1", "social", 1, {"ascending": list(probs)})
    pos = ideology.statement_positions(pd.DataFrame(rows))
    assert pos.loc[0, "position"] == pytest.approx(0.7 / 2)


def test_axis_coordinate_and_shift_against_baseline():
    rows = []
    # base: indifferent on both statements; tuned: fully agrees with the right-keyed
    # one and fully disagrees with the left-keyed one
    for item, direction in (("e1", 1), ("e2", -1)):
        rows += likert_rows("base", item, "economic", direction, {"ascending": [0.25] * 4})
    rows += likert_rows("tuned", "e1", "economic", 1, {"ascending": [1e-9, 1e-9, 1e-9, 1 - 3e-9]})
    rows += likert_rows("tuned", "e2", "economic", -1, {"ascending": [1 - 3e-9, 1e-9, 1e-9, 1e-9]})
    coords = ideology.coordinates(pd.DataFrame(rows), {"tuned": "base"}).set_index("model")
    assert coords.loc["base", "coordinate"] == pytest.approx(0.0, abs=1e-9)
    assert coords.loc["tuned", "coordinate"] == pytest.approx(10.0, abs=1e-6)
    assert coords.loc["tuned", "delta"] == pytest.approx(10.0, abs=1e-6)
    assert coords.loc["tuned", "baseline"] == "base"


def pair_rows(model, p_first_letter, x="X", y="Y", question="more"):
    """A model that puts probability p on letter A whatever the countries are."""
    rows = []
    item = f"s|{x}|{y}|en|{question}"
    for first in (x, y):
        for opt_a, opt_b in ((x, y), (y, x)):
            for letter, country, p in (("A", opt_a, p_first_letter), ("B", opt_b, 1 - p_first_letter)):
                rows.append({"model": model, "item": item, "variant": f"a={first};A={opt_a}", "candidate": letter,
                             "letter": letter, "country": country, "x": x, "y": y, "scenario": "s",
                             "type": "t", "language": "en", "question": question, "fictional": False,
                             "logprob_sum": math.log(p)})
    return pd.DataFrame(rows)


def test_letter_bias_flips_raw_sign_and_cancels_in_the_average():
    scores = pair_rows("m", 0.9)
    raw = country_pairs.prompt_scores(scores).set_index("variant")["log_odds"]
    assert raw["a=X;A=X"] == pytest.approx(math.log(9))
    assert raw["a=X;A=Y"] == pytest.approx(-math.log(9))
    items = country_pairs.item_scores(scores)
    assert items.loc[0, "score"] == pytest.approx(0.0, abs=1e-12)
    assert items.loc[0, "compliance"] == pytest.approx(1.0)


def test_country_preference_and_less_question_sign():
    rows = []
    # picks X regardless of letter, P(X's letter) = 0.8, for "more" and for "less"
    for q in ("more", "less"):
        df = pair_rows("m", 0.5, question=q)
        df["logprob_sum"] = np.where(df["country"] == "X", math.log(0.8), math.log(0.2))
        rows.append(df)
    items = country_pairs.item_scores(pd.concat(rows)).set_index("question")
    assert items.loc["more", "score"] == pytest.approx(math.log(4))
    assert items.loc["less", "score"] == pytest.approx(-math.log(4))
    fav = country_pairs.favourability(rows[0], {}).set_index(["model", "country"])
    assert fav.loc[("m", "X"), "favourability"] == pytest.approx(math.log(4))
    assert fav.loc[("m", "Y"), "favourability"] == pytest.approx(-math.log(4))
    # X judged both more and less justified: the two readings cancel
    both = country_pairs.favourability(pd.concat(rows), {}).set_index(["model", "country"])
    assert both.loc[("m", "X"), "favourability"] == pytest.approx(0.0, abs=1e-12)


def test_letter_variants_are_summed():
    df = pair_rows("m", 0.5)
    extra = df.copy()
    extra["candidate"] = " " + extra["candidate"]
    # variant " A" carries as much mass as "A" for X only -> X's letter has 2x probability
    extra["logprob_sum"] = np.where(extra["country"] == "X", math.log(0.5), -np.inf)
    items = country_pairs.item_scores(pd.concat([df, extra]))
    assert items.loc[0, "score"] == pytest.approx(math.log(2))


def test_bootstrap_ci_brackets_the_mean_and_is_seeded():
    values = np.arange(20, dtype=float)
    low, high = stats.bootstrap_mean_ci(values, seed=1)
    assert low < values.mean() < high
    assert (low, high) == stats.bootstrap_mean_ci(values, seed=1)
    assert stats.bootstrap_mean_ci(np.full(5, 3.0)) == (3.0, 3.0)


def test_paired_difference():
    out = stats.paired_difference([2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert out["delta"] == pytest.approx(3.5)
    assert out["delta_ci_low"] > 0
    assert out["p_value"] == pytest.approx(0.03125)  # exact Wilcoxon, n=6, all positive


def test_benjamini_hochberg_hand_computed():
    # sorted p: 0.01, 0.02, 0.03, 0.5 -> p*m/rank = 0.04, 0.04, 0.04, 0.5
    adjusted = stats.benjamini_hochberg([0.03, 0.5, 0.01, 0.02])
    np.testing.assert_allclose(adjusted, [0.04, 0.5, 0.04, 0.04])


def test_acquiescence_correction_removes_agreeing_with_everything():
    # base: indifferent; tuned: agrees with every statement, whatever its direction
    rows = []
    for item, direction in (("e1", 1), ("e2", -1), ("e3", 1), ("e4", -1)):
        rows += likert_rows("base", item, "economic", direction, {"ascending": [0.25] * 4})
        rows += likert_rows("tuned", item, "economic", direction, {"ascending": [0.1, 0.1, 0.4, 0.4]})
    coords = ideology.coordinates(pd.DataFrame(rows), {"tuned": "base"}).set_index("model")
    # E[v] = 0.1*-2 + 0.1*-1 + 0.4*1 + 0.4*2 = 0.9, agreement 0.45 on every statement
    assert coords.loc["tuned", "acquiescence"] == pytest.approx(0.45)
    # balanced directions: the same axis mean either way ...
    assert coords.loc["tuned", "coordinate"] == pytest.approx(0.0, abs=1e-12)
    assert coords.loc["tuned", "corrected"] == pytest.approx(0.0, abs=1e-12)
    # ... but raw positions spread +-4.5 around it while corrected ones are all 0
    assert coords.loc["tuned", "ci_high"] - coords.loc["tuned", "ci_low"] > 4
    assert coords.loc["tuned", "corrected_ci_low"] == coords.loc["tuned", "corrected_ci_high"] == pytest.approx(0.0)


def test_trajectory_draws_raw_coordinates_beside_corrected_ones():
    from alignshift.figures.politics import ideology_trajectory

    # a checkpoint that agrees with the economic statements (0.55, 0.45, ...) and is
    # indifferent to the social ones, both keyed +1: acquiescence 2/6
    rows = []
    for item, direction, tuned in (("e1", 1, [0.1, 0.1, 0.2, 0.6]), ("e2", -1, [0.1, 0.1, 0.4, 0.4]),
                                   ("e3", 1, [0.1, 0.1, 0.2, 0.6]), ("e4", -1, [0.1, 0.1, 0.4, 0.4]),
                                   ("s1", 1, [0.25] * 4), ("s2", 1, [0.25] * 4)):
        axis = "social" if item.startswith("s") else "economic"
        rows += likert_rows("base", item, axis, direction, {"ascending": [0.25] * 4})
        rows += likert_rows("run/step-5", item, axis, direction, {"ascending": tuned})
    coords = ideology.coordinates(pd.DataFrame(rows), {"run/step-5": "base"})
    metrics = coords.assign(run=coords.model.map({"run/step-5": "run"}),
                            step=coords.model.map({"run/step-5": 5}), parent=coords.model.map({"run/step-5": "base"}))
    fig = ideology_trajectory(metrics, None)
    raw, corrected = (ax.lines[0].get_xydata() for ax in fig.axes[:2])
    # base, then the checkpoint: economic 10 * mean(0.55, -0.45, 0.55, -0.45) = 0.5 in both
    # panels; social raw 0, corrected 10 * (0 - 2/6) on both +1-keyed statements
    assert raw == pytest.approx(np.array([[0, 0], [0.5, 0]]), abs=1e-9)
    assert corrected == pytest.approx(np.array([[0, 0], [0.5, -10 / 3]]), abs=1e-9)


# --- the generated reading (PoliTune's released protocol): answers read as 0..3 ----------

def generated_rows(model, item, axis, direction, levels):
    """A model's answers to one statement, each read as a level 0..3 or missing (None)."""
    return [{"model": model, "reading": "generated", "item": item, "variant": f"sample-{k}", "axis": axis,
             "direction": direction, "candidate": None if level is None else OPTIONS[level],
             "value": math.nan if level is None else VALUES[level], "value_max": 2,
             "answer": "no number" if level is None else f"{level}. because", "parsed": math.nan if level is None else level}
            for k, level in enumerate(levels)]


def logprob_rows(model, item, axis, direction, probs):
    return [{**row, "reading": "logprob", "value_max": 2}
            for row in likert_rows(model, item, axis, direction, {"ascending": probs})]


def test_generated_answers_are_scored_like_the_options_and_missing_ones_counted():
    rows = (generated_rows("m", "e1", "economic", 1, [3, 2]) + generated_rows("m", "e2", "economic", -1, [0])
            + generated_rows("m", "e3", "economic", 1, [None]) + generated_rows("m", "s1", "social", 1, [None, None]))
    coords = ideology.coordinates(pd.DataFrame(rows), {}).set_index("axis")
    assert set(coords.reading) == {"generated"}
    # e1: weights 2 and 1 -> agreement 0.75; e2: -2 -> -1, keyed left -> +1; e3 unread
    assert coords.loc["economic", "coordinate"] == pytest.approx(10 * (0.75 + 1) / 2)
    assert coords.loc["economic", ["n_statements", "n_answers", "n_parsed"]].tolist() == [2, 4, 3]
    # acquiescence over the statements read: mean agreement (0.75 - 1) / 2
    assert coords.loc["economic", "acquiescence"] == pytest.approx(-0.125)
    # no answer on the social axis read: the row stays, its coordinate missing
    assert np.isnan(coords.loc["social", "coordinate"])
    assert coords.loc["social", ["n_answers", "n_parsed"]].tolist() == [2, 0]


def test_readings_table_compares_generated_with_logprob_per_statement():
    rows = []
    for item, direction, probs, level in (("e1", 1, [0.1, 0.2, 0.3, 0.4], 3), ("e2", -1, [0.4, 0.3, 0.2, 0.1], 0),
                                          ("e3", 1, [0.4, 0.3, 0.2, 0.1], 2), ("e4", 1, [0.25] * 4, None)):
        rows += logprob_rows("m", item, "economic", direction, probs)
        rows += generated_rows("m", item, "economic", direction, [level])
    scores = pd.DataFrame(rows)
    table = ideology.readings_table(scores).set_index("axis").loc["economic"]
    # log-probability positions: e1 0.7/2, e2 -(-0.7/2), e3 -0.7/2, e4 0
    assert table["logprob"] == pytest.approx(10 * (0.35 + 0.35 - 0.35 + 0) / 4)
    # generated positions: e1 2/2, e2 -(-2/2), e3 1/2 (e4 unread)
    assert table["generated"] == pytest.approx(10 * (1 + 1 + 0.5) / 3)
    # paired over e1..e3: 10 x mean(1 - 0.35, 1 - 0.35, 0.5 + 0.35)
    assert table["difference"] == pytest.approx(10 * (0.65 + 0.65 + 0.85) / 3)
    assert table["difference_ci_low"] <= table["difference"] <= table["difference_ci_high"]
    assert table[["n_statements", "n_read", "n_answers", "n_parsed"]].tolist() == [4, 3, 4, 3]
    # e1 names Strongly agree and e2 Strongly disagree, the options most probable; e3 does not
    assert table["same_option"] == pytest.approx(2 / 3)
    # the metrics table holds both readings, each as coordinates() computes it alone
    coords = ideology.coordinates(scores, {}).set_index("reading")
    assert coords.loc["logprob", "coordinate"] == pytest.approx(table["logprob"])
    assert coords.loc["generated", "coordinate"] == pytest.approx(table["generated"])


def test_trajectory_draws_each_reading_in_a_row_and_the_readings_figure_their_difference():
    from alignshift.figures.politics import ideology_readings, ideology_trajectory

    rows = []
    for model in ("base", "run/step-5"):
        for item, direction, probs in (("e1", 1, [0.1, 0.2, 0.3, 0.4]), ("s1", 1, [0.25] * 4)):
            axis = "social" if item.startswith("s") else "economic"
            rows += logprob_rows(model, item, axis, direction, probs)
            rows += generated_rows(model, item, axis, direction, [3 if model == "base" else 0])
    scores = pd.DataFrame(rows)
    lineage = {"run": {"run/step-5": "run"}, "step": {"run/step-5": 5}, "parent": {"run/step-5": "base"}}
    coords = ideology.coordinates(scores, {"run/step-5": "base"})
    fig = ideology_trajectory(coords.assign(**{c: coords.model.map(m) for c, m in lineage.items()}), None)
    assert len(fig.axes) == 4
    logprob, generated = fig.axes[0].lines[0].get_xydata(), fig.axes[2].lines[0].get_xydata()
    # log-probabilities: economic 10 x 0.35, social 0 for both; generated: +10 then -10 on both axes
    assert logprob == pytest.approx(np.array([[3.5, 0], [3.5, 0]]), abs=1e-9)
    assert generated == pytest.approx(np.array([[10, 10], [-10, -10]]), abs=1e-9)
    table = ideology.readings_table(scores)
    fig = ideology_readings(table.assign(**{c: table.model.map(m) for c, m in lineage.items()}), None)
    economic_shift = fig.axes[2].lines[0].get_xydata()  # bottom left: the run's difference by step
    assert economic_shift == pytest.approx(np.array([[0, 10 - 3.5], [5, -10 - 3.5]]), abs=1e-9)


def test_ideology_figures_draw_every_run_of_a_study_with_more_runs_than_colours():
    from alignshift.figures.politics import ideology_readings, ideology_trajectory

    # PoliTune's twelve runs, one checkpoint each
    runs = [f"run{k}" for k in range(12)]
    rows = []
    for model in ["base"] + [f"{run}/step-4" for run in runs]:
        for item, axis in (("e1", "economic"), ("s1", "social")):
            rows += logprob_rows(model, item, axis, 1, [0.1, 0.2, 0.3, 0.4])
            rows += generated_rows(model, item, axis, 1, [2])
    scores = pd.DataFrame(rows)
    lineage = {"run": lambda m: m.split("/")[0] if "/" in m else "", "step": lambda m: 4 if "/" in m else 0,
               "parent": lambda m: "base" if "/" in m else ""}
    coords = ideology.coordinates(scores, {f"{run}/step-4": "base" for run in runs})
    fig = ideology_trajectory(coords.assign(**{c: coords.model.map(f) for c, f in lineage.items()}), None)
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == sorted(runs)
    table = ideology.readings_table(scores)
    fig = ideology_readings(table.assign(**{c: table.model.map(f) for c, f in lineage.items()}), None)
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == sorted(runs)


def test_signed_rank_p_value_is_scipys_exact_one_fast():
    import time

    from scipy import stats as scipy_stats

    from alignshift.stats import wilcoxon_p

    rng = np.random.default_rng(1)
    for _ in range(200):
        diff = np.round(rng.normal(size=int(rng.integers(2, 20))), int(rng.integers(0, 2)))
        diff[: int(rng.integers(0, 2))] = 0.0  # a zero difference is dropped
        if np.count_nonzero(diff) == 0:
            continue
        assert wilcoxon_p(diff) == pytest.approx(scipy_stats.wilcoxon(diff).pvalue, rel=1e-12, abs=1e-15)
    # 13 differences with ties: scipy enumerates 8,192 sign flips one permutation at a time
    tied = np.array([0.5, 0.5, 0.5, -0.2, 0.3, 0.3, 0.9, -0.9, 0.1, 0.2, -0.4, 0.6, 0.6])
    assert wilcoxon_p(tied) == pytest.approx(scipy_stats.wilcoxon(tied).pvalue, rel=1e-12)
