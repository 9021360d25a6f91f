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
        spec[key] = value
    return spec


def module(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def build(name: str, spec: dict, tables: dict[str, pd.DataFrame], fmt: Callable[..., str]) -> pd.DataFrame:
    rows = module(name).build(spec, tables, fmt)
    if rows.empty:
        raise ProbeError(f"probe {name}: no items after applying its settings {spec}")
    return rows


def run(name: str, spec: dict, tables: dict[str, pd.DataFrame], lm, *, progress=True, **score_kwargs) -> pd.DataFrame:
    """Build a probe's rows for one loaded model, score them, return the tidy table."""
    def fmt(user: str, assistant_prefix: str = "") -> str:
        from ..models import format_prompt

        return format_prompt(lm.tokenizer, user, chat=lm.spec.chat_template,
                             system=spec.get("system_prompt"), assistant_prefix=assistant_prefix)

    rows = build(name, spec, tables, fmt)
    prompts = list(dict.fromkeys(rows["prompt"]))
    index = {p: i for i, p in enumerate(prompts)}
    grouped = rows.groupby("prompt", sort=False)["continuation"].apply(list)
    requests = [ScoreRequest(p, tuple(grouped[p])) for p in prompts]
    scores = score(lm.model, lm.tokenizer, requests, progress=f"{name} {lm.spec.name}", **score_kwargs)
    position = rows.groupby("prompt", sort=False).cumcount().to_numpy()
    req = rows["prompt"].map(index).to_numpy()
    out = rows.drop(columns=["prompt"]).assign(
        logprob_sum=[scores[r].logprob_sum[k] for r, k in zip(req, position)],
        n_tokens=[int(scores[r].n_tokens[k]) for r, k in zip(req, position)],
        prompt_hash=[stable_hash(p) for p in rows["prompt"]],
    )
    out["logprob_mean"] = out["logprob_sum"] / out["n_tokens"].clip(lower=1)
    out.insert(0, "probe", name)
    out.insert(0, "model", lm.spec.name)
    return out
