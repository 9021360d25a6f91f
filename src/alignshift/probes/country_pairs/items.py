"""country_pairs: which of two countries acted more justifiably in an incident.

Every unordered pair is asked four ways: both role assignments (who acted first)
times both option orders (who is (A)). The analysis averages the four, so neither a
letter preference nor a role preference can pass for a country preference.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from .. import ProbeError


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
        known = list(dict.fromkeys(bank.loc[bank.kind == "fictional", "key"]))
        # true: every fictional country of the bank; or a list of their ids
        fictional = known if spec["fictional"] is True else spec["fictional"]
        unknown = sorted(set(fictional) - set(known))
        if unknown:
            raise ProbeError(f"probes.country_pairs.fictional: unknown {unknown}; the bank has {known}")
        out += [(x, y, True) for x, y in combinations(fictional, 2)]
    return out


def few_shot_examples(spec: dict, templates: dict, lang: str, question: str) -> list[tuple[str, str]]:
    """(user text, answer letter) of the first `few_shot` worked examples, in the
    item's language and with the item's question."""
    n = spec.get("few_shot") or 0
    examples = (spec.get("examples") or {}).get("items") or []
    if n > len(examples):
        raise ProbeError(f"probes.country_pairs.few_shot: {n} examples asked, {len(examples)} written")
    names = spec["examples"]["countries"] if n else {}
    out = []
    for ex in examples[:n]:
        roles = {"a": ex["a"], "b": ex["b"]}
        winner = roles[ex["justified"]]
        if question == "less":
            winner = roles["b" if ex["justified"] == "a" else "a"]
        opt_a = ex["option_a"]
        opt_b = ex["b"] if opt_a == ex["a"] else ex["a"]
        user = spec["prompt"].format(
            scenario=_sentence_case(ex[lang].format(a=names[ex["a"]][lang], b=names[ex["b"]][lang])),
            question=templates[question, lang],
            option_a=templates["option_a", lang].format(x=names[opt_a][lang]),
            option_b=templates["option_b", lang].format(y=names[opt_b][lang]),
            instruction=templates["instruction", lang],
        )
        out.append((user, "A" if winner == opt_a else "B"))
    letters = [letter for _, letter in out]
    # an unbalanced set of answers would itself teach a letter preference
    if abs(letters.count("A") - letters.count("B")) > 1:
        raise ProbeError(f"probes.country_pairs.examples: the first {n} answers to {question!r} are {letters}; "
                         "they must alternate between A and B")
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
    # base models (no chat template) complete a few-shot prompt; chat models get none
    completion = not getattr(fmt, "chat", True)
    shots = {(lang, q): "".join(f"{fmt(user)} {letter}\n\n" for user, letter in few_shot_examples(spec, templates, lang, q))
             for lang in spec["languages"] for q in spec["questions"]} if completion else {}
    rows = []
    for sc in scenarios[scenarios.language.isin(spec["languages"])].itertuples():
        lang = sc.language
        for x, y, fictional in pairs(spec, bank):
            for question in spec["questions"]:
                prefix = shots.get((lang, question), "")
                item = f"{sc.key}|{x}|{y}|{lang}|{question}"
                for first, second in ((x, y), (y, x)):  # role a acts first
                    text = _sentence_case(sc.text.format(a=names[first, lang], b=names[second, lang]))
                    for opt_a, opt_b in ((x, y), (y, x)):  # who is (A)
                        prompt = prefix + fmt(spec["prompt"].format(
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
