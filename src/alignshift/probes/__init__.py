"""Probes: a probe is a small declarative spec (`<name>.yaml` beside this file, any key
overridable from the config's `probes.<name>`) plus a `build` function that turns
dataset tables into scoring rows. Scoring itself is shared: `run` groups the rows by
prompt and scores every candidate of a prompt in one batched pass.

A probe's `build(spec, tables, fmt)` returns one row per (item, variant, candidate)
with at least the columns `item`, `variant`, `candidate`, `prompt`, `continuation`,
plus whatever metadata its analysis needs.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

from ..cache import JsonlCache
from ..provenance import stable_hash
from ..scoring import ScoreRequest, score

SPEC_DIR = Path(__file__).parent
SCORING_PROBES = ("ideology", "country_pairs", "country_rank")


class ProbeError(ValueError):
    """A probe cannot be built from its settings or data."""


@cache
def default_spec(name: str) -> dict:
    path = SPEC_DIR / f"{name}.yaml"
    if not path.exists():
        raise ProbeError(f"unknown probe {name!r}; known: {sorted(p.stem for p in SPEC_DIR.glob('*.yaml'))}")
    return yaml.safe_load(path.read_text())


def resolve_spec(name: str, overrides: dict | None) -> dict:
    """The probe's spec with the config's overrides; unknown keys are an error."""
    spec = dict(default_spec(name))
    for key, value in (overrides or {}).items():
        if key not in spec:
            raise ProbeError(f"probes.{name}.{key}: unknown setting; known: {sorted(spec)}")
        if isinstance(spec[key], dict) and isinstance(value, dict):  # a settings group: override key by key
            unknown = sorted(set(value) - set(spec[key]))
            if unknown:
                raise ProbeError(f"probes.{name}.{key}.{unknown[0]}: unknown setting; known: {sorted(spec[key])}")
            value = {**spec[key], **value}
        spec[key] = value
    return spec


# settings groups of later stages: changing them reruns that stage, never the scoring
LATER_STAGES = ("analysis", "judging")


def evaluation_spec(spec: dict) -> dict:
    """The settings that shape a probe's prompts and scores: all but its `analysis`
    and `judging` settings."""
    return {k: v for k, v in spec.items() if k not in LATER_STAGES}


def module(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def build(name: str, spec: dict, tables: dict[str, pd.DataFrame], fmt: Callable[..., str]) -> pd.DataFrame:
    rows = module(name).build(spec, tables, fmt)
    if rows.empty:
        raise ProbeError(f"probe {name}: no items after applying its settings {spec}")
    return rows


def run(name: str, spec: dict, tables: dict[str, pd.DataFrame], lm, *, cache: str | Path | None = None,
        chunk_prompts: int = 256, progress=True, **score_kwargs) -> pd.DataFrame:
    """Build a probe's rows for one model, score them, return the tidy table.

    A probe module may define `evaluate(spec, tables, lm, fmt, cache)` instead of
    relying on continuation scoring (probes that generate answers). Scores are cached
    per (model revision, probe spec, prompt, continuations) in `cache`, written every
    `chunk_prompts` prompts, so a killed job rescoring redoes only what is missing and
    the model is never loaded when everything is cached.
    """
    def fmt(user: str, assistant_prefix: str = "") -> str:
        from ..prompts import format_prompt

        return format_prompt(lm.tokenizer, user, chat=lm.spec.chat_template,
                             system=spec.get("system_prompt"), assistant_prefix=assistant_prefix)

    # whether prompts go through the chat template (a probe may prompt base models differently)
    fmt.chat = bool(lm.spec.chat_template and lm.tokenizer.chat_template)
    probe = module(name)
    if getattr(lm.spec, "kind", "causal_lm") == "reward_model":
        # a reward model scores whole (question, response) texts; probes without a
        # `build_reward(spec, tables)` do not apply to it and give an empty table
        out = _reward_rows(probe, spec, tables, lm, cache)
    elif hasattr(probe, "evaluate"):
        out = probe.evaluate(spec, tables, lm, fmt, cache)
    else:
        out = _score_rows(name, spec, build(name, spec, tables, fmt), lm, cache, chunk_prompts, progress, score_kwargs)
    out.insert(0, "probe", name)
    out.insert(0, "model", lm.spec.name)
    return out


def _score_rows(name, spec, rows, lm, cache, chunk_prompts, progress, score_kwargs) -> pd.DataFrame:
    grouped = rows.groupby("prompt", sort=False)["continuation"].apply(tuple)
    prompts = grouped.index.tolist()
    spec_hash = stable_hash(spec)
    keys = [stable_hash({"model": lm.revision, "probe": name, "spec": spec_hash, "prompt": p, "continuations": c})
            for p, c in grouped.items()]
    store = JsonlCache(cache)
    todo = [i for i, k in enumerate(keys) if k not in store]
    for start in range(0, len(todo), chunk_prompts):
        chunk = todo[start : start + chunk_prompts]
        requests = [ScoreRequest(prompts[i], grouped.iloc[i]) for i in chunk]
        label = f"{name} {lm.spec.name} [{start + len(chunk)}/{len(todo)} prompts]" if progress else False
        results = score(lm.model, lm.tokenizer, requests, progress=label, **score_kwargs)
        store.put((keys[i], {"logprob_sum": r.logprob_sum.tolist(), "n_tokens": r.n_tokens.tolist()})
                  for i, r in zip(chunk, results))
    # map every row back to its prompt's cached result, by position among the prompt's rows
    position = rows.groupby("prompt", sort=False).cumcount().to_numpy()
    index = {p: i for i, p in enumerate(prompts)}
    results = [store.get(keys[index[p]]) for p in rows["prompt"]]
    out = rows.drop(columns=["prompt"]).assign(
        logprob_sum=[r["logprob_sum"][k] for r, k in zip(results, position)],
        n_tokens=[int(r["n_tokens"][k]) for r, k in zip(results, position)],
        prompt_hash=[stable_hash(p) for p in rows["prompt"]],
    )
    out["logprob_mean"] = out["logprob_sum"] / out["n_tokens"].clip(lower=1)
    return out


def _reward_rows(probe, spec, tables, lm, cache) -> pd.DataFrame:
    """Rows of `probe.build_reward(spec, tables)` (item, variant, candidate, question,
    response, ...) with each text's `reward`, formatted by the spec's `reward_format`."""
    from ..rewards import reward_scores

    if not hasattr(probe, "build_reward"):
        return pd.DataFrame()
    rows = probe.build_reward(spec, tables)
    texts = [spec["reward_format"].format(question=q, response=r) for q, r in zip(rows["question"], rows["response"])]
    rewards = reward_scores(lm.model, lm.tokenizer, texts, cache=cache, revision=lm.revision)
    # the question is the item's text; analyses name their own `question` column
    return rows.drop(columns=["question"]).assign(reward=rewards)
