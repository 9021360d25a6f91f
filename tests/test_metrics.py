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
