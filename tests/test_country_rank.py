"""Country ranking: hand-computed ranks, and the paper's Gallup correlations."""

import pandas as pd
import pytest
from scipy import stats

from alignshift.probes.country_rank import metrics as country_rank
from conftest import REPO, SHARED, model_table

ASKREDDIT = SHARED / "reference" / "askreddit"


def test_question_ranks_invert_negative_questions_and_average_ties():
    scores = pd.DataFrame({
        "question": ["good"] * 3 + ["bad"] * 3,
        "sentiment": ["positive"] * 3 + ["negative"] * 3,
        "country": ["A", "B", "C"] * 2,
        "score": [3.0, 2.0, 2.0, 3.0, 2.0, 1.0],
    })
    ranks = country_rank.question_ranks(scores).set_index(["question", "country"])["rank"]
    assert ranks["good"].tolist() == [1.0, 2.5, 2.5]
    # the country most likely as "the worst" is ranked last
    assert ranks["bad"].tolist() == [3.0, 2.0, 1.0]
    assert country_rank.mean_rank(scores).to_dict() == {"A": 2.0, "B": 2.25, "C": 1.75}


def test_rank_correlation_matrix():
    a = pd.Series([1.0, 2.0, 3.0, 4.0], index=list("wxyz"))
    rho, p = country_rank.rank_correlation_matrix({"m1": a, "m2": a * 2, "m3": -a})
    assert rho.loc["m1", "m2"] == pytest.approx(1.0)
    assert rho.loc["m1", "m3"] == pytest.approx(-1.0)
    assert rho.loc["m2", "m2"] == 1.0
    assert p.loc["m1", "m2"] == pytest.approx(0.0)


def gallup_correlation(rewards_csv, countries_txt, gallup_csv, year: int) -> tuple[float, float]:
    """Spearman (rho, p) between the reward model's country ranking and Gallup's US
    favourability order of `year`, read straight from the released rewards file (a check
    of the statistics on the reference data; a study computes the same from its own
    scores with the rule `reference_orders_country_rank`, country_rank's `reference_tables`).

    The rewards table has one row per question (metadata columns, then one column per
    country); it is restricted to the 181-country list, ranked per question (negative
    questions inverted) and averaged per country. Gallup ranks 1 = most favourable;
    the correlation is taken over the Gallup countries present in the ranking.
    """
    rewards = pd.read_csv(rewards_csv)
    countries = [c.strip() for c in open(countries_txt, encoding="utf-8") if c.strip()]
    present = [c for c in countries if c in rewards.columns]
    long = rewards.melt(id_vars=["Question", "Sentiment"], value_vars=present, var_name="country", value_name="score")
    long = long.rename(columns={"Question": "question", "Sentiment": "sentiment"})
    long["sentiment"] = long["sentiment"].str.lower()
    ranks = country_rank.mean_rank(long)
    gallup = pd.read_csv(gallup_csv)
    order = gallup[gallup["year"] == year].set_index("country")["rank"]
    common = order.index.intersection(ranks.index)
    rho, p = stats.spearmanr(order[common], ranks[common])
    return float(rho), float(p)


@pytest.mark.skipif(not ASKREDDIT.exists(), reason="../shared/reference/askreddit is absent")
@pytest.mark.parametrize("year,expected", [(2023, 0.849), (2017, 0.926)])
def test_gallup_correlation_reproduces_the_paper(year, expected):
    rho, p = gallup_correlation(ASKREDDIT / "starling-rm-7b-alpha-rewards.csv", ASKREDDIT / "countries_181.txt",
                                ASKREDDIT / "gallup_us_favorability_order.csv", year)
    assert round(rho, 3) == expected
    assert p < 1e-5


def test_world_map_matches_study_names_and_reports_small_countries():
    from alignshift import world_map

    world = world_map.countries()
    names = pd.read_csv(REPO / "data" / "country_rank" / "countries.csv")["country"]
    values, missing = world_map.match_countries(pd.Series(range(len(names)), index=names), world)
    assert missing == ["Samoa", "Singapore"]  # islands below the 1:110m scale
    assert values["United States of America"] == names.tolist().index("United States")
    assert len(values) == len(names) - 2


def test_country_rank_map_colours_each_country_by_its_scaled_mean_rank():
    from alignshift import figures

    metrics = pd.DataFrame({"model": ["base"] * 4 + ["tuned"] * 4,
                            "country": ["United States", "France", "Ivory Coast", "Singapore"] * 2,
                            "mean_rank": [1.0, 2.5, 4.0, 3.0, 4.0, 1.0, 2.0, 3.0]})
    fig = figures.global_representation.country_rank_map(metrics, model_table({"base": None, "tuned": "base"}))
    maps = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in maps] == ["base", "tuned"]
    # the second collection of a panel holds the ranked countries; its colour values are
    # the mean ranks scaled to 0..1 over the 4 ranked countries (Singapore has no polygon)
    coloured = sorted(set(maps[0].collections[1].get_array().round(6)))
    assert coloured == [0.0, 0.5, 1.0]
    assert "Singapore" in fig.get_supxlabel()
