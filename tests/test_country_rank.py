"""Country ranking: hand-computed ranks, and the paper's Gallup correlations."""

import pandas as pd
import pytest

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


@pytest.mark.skipif(not ASKREDDIT.exists(), reason="../shared/reference/askreddit is absent")
@pytest.mark.parametrize("year,expected", [(2023, 0.849), (2017, 0.926)])
def test_gallup_correlation_reproduces_the_paper(year, expected):
    rho, p = country_rank.gallup_correlation(ASKREDDIT / "starling-rm-7b-alpha-rewards.csv",
                                             ASKREDDIT / "countries_181.txt",
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
