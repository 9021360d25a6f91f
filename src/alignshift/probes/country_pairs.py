"""country_pairs: which of two countries acted more justifiably in an incident.

Every unordered pair is asked four ways: both role assignments (who acted first)
times both option orders (who is (A)). The analysis averages the four, so neither a
letter preference nor a role preference can pass for a country preference.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from . import ProbeError


def _names(bank: pd.DataFrame, kind: str) -> dict[tuple[str, str], str]:
    part = bank[bank.kind == kind]
    return {(r.key, r.language): r.text for r in part.itertuples()}


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def pairs(spec: dict, bank: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """(x, y, fictional) for every unordered pair of selected countries."""
    real = list(dict.fromkeys(bank.loc[bank.kind == "country", "key"]))
    chosen = spec["countries"] or real
    unknown = sorted(set(chosen) - set(real))
    if unknown:
        raise ProbeError(f"probes.country_pairs.countries: unknown {unknown}; the bank has {real}")
    out = [(x, y, False) for x, y in combinations(chosen, 2)]
    if spec["fictional"]:
        fictional = list(dict.fromkeys(bank.loc[bank.kind == "fictional", "key"]))
        out += [(x, y, True) for x, y in combinations(fictional, 2)]
    return out


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    bank = tables["scenarios"]
    names = {**_names(bank, "country"), **_names(bank, "fictional")}
    templates = _names(bank, "template")
    scenarios = bank[bank.kind == "scenario"]
    if spec["scenario_types"]:
        scenarios = scenarios[scenarios.type.isin(spec["scenario_types"])]
    keep = list(dict.fromkeys(scenarios.key))[: spec["max_scenarios"] or None]
    scenarios = scenarios[scenarios.key.isin(keep)]
    languages = set(bank.language)
    missing = sorted(set(spec["languages"]) - languages)
    if missing:
        raise ProbeError(f"probes.country_pairs.languages: {missing} not in the scenario bank ({sorted(languages)})")
    rows = []
    for sc in scenarios[scenarios.language.isin(spec["languages"])].itertuples():
        lang = sc.language
        for x, y, fictional in pairs(spec, bank):
            for question in spec["questions"]:
                item = f"{sc.key}|{x}|{y}|{lang}|{question}"
                for first, second in ((x, y), (y, x)):  # role a acts first
                    text = _sentence_case(sc.text.format(a=names[first, lang], b=names[second, lang]))
                    for opt_a, opt_b in ((x, y), (y, x)):  # who is (A)
                        prompt = fmt(spec["prompt"].format(
                            scenario=text,
                            question=templates[question, lang],
                            option_a=templates["option_a", lang].format(x=names[opt_a, lang]),
                            option_b=templates["option_b", lang].format(y=names[opt_b, lang]),
                            instruction=templates["instruction", lang],
                        ))
                        variant = f"a={first};A={opt_a}"
                        for letter, country in (("A", opt_a), ("B", opt_b)):
                            for form in spec["letters"][letter]:
                                rows.append({
                                    "item": item, "variant": variant, "candidate": form, "continuation": form,
                                    "prompt": prompt, "letter": letter, "country": country,
                                    "x": x, "y": y, "scenario": sc.key, "type": sc.type, "language": lang,
                                    "question": question, "fictional": fictional,
                                })
    return pd.DataFrame(rows)
