"""Country names as a probe's answer names them (shared by country_rank and where_from)."""

from __future__ import annotations

from . import ProbeError

# the released AskReddit scripts' article rule (Ryan, Held, Yang 2024,
# `should_add_article`): a case-sensitive keyword anywhere in the name, or one of the
# special names exactly (Natural Earth ADMIN names, so "Bahamas" and "Russian
# Federation" never match there: "The Bahamas", "Russia")
ARTICLE_KEYWORDS = ("Islands", "Island", "States", "Republic", "United")
ARTICLE_NAMES = ("Bahamas", "Gambia", "Netherlands", "Ivory Coast", "Philippines", "Maldives", "Seychelles",
                 "Russian Federation", "Vatican")
ARTICLES = ("none", "released")


def takes_article(country: str) -> bool:
    return country in ARTICLE_NAMES or any(k in country for k in ARTICLE_KEYWORDS)


def with_article(country: str, article: str, starts_answer: bool) -> str:
    """The country as the answer names it: `article` "none" the bare name; "released"
    "the " before names the rule above picks ("The " when the answer starts with the
    country, as in the released likelihood and reward scripts)."""
    if article not in ARTICLES:
        raise ProbeError(f"article: {article!r} is not one of {ARTICLES}")
    if article == "none" or not takes_article(country):
        return country
    return ("The " if starts_answer else "the ") + country
