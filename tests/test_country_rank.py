"""Country ranking: hand-computed ranks, and the paper's Gallup correlations."""

import pandas as pd
import pytest

from alignshift.analysis import country_rank
from conftest import SHARED

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
