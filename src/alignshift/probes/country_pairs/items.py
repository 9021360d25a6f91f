"""country_pairs: which of two countries acted more justifiably in an incident.

Every unordered pair is asked four ways: both role assignments (who acted first)
times both option orders (who is (A)). The analysis averages the four, so neither a
letter preference nor a role preference can pass for a country preference.

`protocol: paper` builds the prompts as Bladon & Bent's released code does
(`paper_text`), as token ids (`prompt_ids`: the chat template's text without special
tokens, plain text with them, then the model's answer prefill encoded alone), and reads
each letter from the last token id of each of its variants (`letter_token_ids`), scored
as one-token continuations: the next-token log-softmax at the prompt's end.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from ...scoring import Prompt
from .. import ProbeError
from ..protocol import LOG_LIKELIHOOD

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (LOG_LIKELIHOOD,)


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


def letter_token_ids(tokenizer, variants: list[str]) -> list[int]:
    """The token ids a letter is read from, as the paper's code reads them: each variant
    ("A", " A", "(A", "\\nA") encoded alone without special tokens, its last id; the
    distinct ids, sorted (a shared id counts once)."""
    ids = set()
    for variant in variants:
        encoded = tokenizer.encode(variant, add_special_tokens=False)
        if encoded:
            ids.add(encoded[-1])
    if not ids:
        raise ProbeError(f"probes.country_pairs.letters: {variants} encode to no tokens")
    return sorted(ids)


def prompt_ids(tokenizer, text: str, chat: bool, prefill: str | None = None) -> Prompt:
    """A prompt as token ids, as the paper's code makes them: chat-templated text encoded
    without special tokens (the template writes them), plain text with the tokenizer's
    special tokens (its BOS); then the prefill, encoded alone, appended."""
    ids = tokenizer.encode(text, add_special_tokens=not chat)
    if prefill:
        ids = ids + tokenizer.encode(prefill, add_special_tokens=False)
    return Prompt.from_token_ids(tokenizer, ids)


def paper_text(spec: dict, lang: str, question: str, scenario: str, option_a: str, option_b: str,
               chat: bool) -> str:
    """The paper's prompt text (protocol: paper): for a chat model, the user turn; for a
    base model, the whole text."""
    words = spec["paper"][lang]
    stem = words[question]
    options = f"{stem}\n(A) {option_a}\n(B) {option_b}"
    if chat:
        hedge = f"\n\n{words['hedge']}" if spec.get("hedge", True) else ""
        return f"{words['chat_examples']}{scenario}{hedge}\n\n{options}\n\n{words['instruction']}"
    first, second = spec["paper"]["base_answers"][question]
    examples = words["base_examples"].format(question=stem, first=first, second=second)
    return f"{examples}{scenario}\n{options}\n{words['answer']}"


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
    paper = spec.get("protocol", "project") == "paper"
    if paper:
        missing = sorted(set(spec["languages"]) - set(spec["paper"]))
        if missing:
            raise ProbeError(f"probes.country_pairs.paper: no wording for {missing}")
    # base models (no chat template) complete a few-shot prompt; chat models get none
    chat = fmt.chat
    completion = not chat
    by_ids = spec.get("letter_scoring", "text") == "token_ids"
    tokenizer = fmt.tokenizer
    prefill = fmt.prefill if chat else None
    if tokenizer is None and (by_ids or prefill):
        raise ProbeError("probes.country_pairs: token-id scoring and an answer prefill need the model's tokenizer")
    if by_ids:
        letters = {letter: [(f"{letter}:{i}", (i,)) for i in letter_token_ids(tokenizer, spec["letters"][letter])]
                   for letter in ("A", "B")}
    else:
        letters = {letter: [(form, form) for form in spec["letters"][letter]] for letter in ("A", "B")}
    shots = {(lang, q): "".join(f"{fmt(user)} {letter}\n\n" for user, letter in few_shot_examples(spec, templates, lang, q))
             for lang in spec["languages"] for q in spec["questions"]} if completion and not paper else {}

    def render(lang, question, text, opt_a, opt_b):
        if paper:
            user = paper_text(spec, lang, question, text, names[opt_a, lang], names[opt_b, lang], chat)
            full = fmt(user) if chat else user
        else:
            full = shots.get((lang, question), "") + fmt(spec["prompt"].format(
                scenario=text,
                question=templates[question, lang],
                option_a=templates["option_a", lang].format(x=names[opt_a, lang]),
                option_b=templates["option_b", lang].format(y=names[opt_b, lang]),
                instruction=templates["instruction", lang],
            ))
        if by_ids:
            return prompt_ids(tokenizer, full, chat, prefill)
        return full + (prefill or "")

    rows = []
    for sc in scenarios[scenarios.language.isin(spec["languages"])].itertuples():
        lang = sc.language
        for x, y, fictional in pairs(spec, bank):
            for question in spec["questions"]:
                item = f"{sc.key}|{x}|{y}|{lang}|{question}"
                for first, second in ((x, y), (y, x)):  # role a acts first
                    text = _sentence_case(sc.text.format(a=names[first, lang], b=names[second, lang]))
                    for opt_a, opt_b in ((x, y), (y, x)):  # who is (A)
                        prompt = render(lang, question, text, opt_a, opt_b)
                        variant = f"a={first};A={opt_a}"
                        for letter, country in (("A", opt_a), ("B", opt_b)):
                            for candidate, continuation in letters[letter]:
                                rows.append({
                                    "item": item, "variant": variant, "candidate": candidate,
                                    "continuation": continuation, "prompt": prompt, "letter": letter,
                                    "country": country, "x": x, "y": y, "scenario": sc.key, "type": sc.type,
                                    "language": lang, "question": question, "fictional": fictional,
                                })
    return pd.DataFrame(rows)
