"""Probes. A probe is one folder, `probes/<name>/`, as a task is in lm-evaluation-harness:

- `spec.yaml`: its declarative settings (any key overridable from the config's
  `probes.<name>`) and what the workflow needs to know about it: `datasets` (the
  config's datasets it reads), `stages` (later stages that run on its scores, each with
  a settings group and a module of its name: `judging`, `cfmatch`; see
  alignshift.probes.stages), `tables` (further metrics tables beside
  `results/metrics/<name>.csv`);
- `items.py`: its `KINDS` and hooks (alignshift.probes.protocol): `build(spec, tables,
  fmt)` for the log-likelihood kind returns one row per (item, variant, candidate) with
  at least `item`, `variant`, `candidate`, `prompt`, `continuation` plus whatever its
  metrics need (`fmt`: a PromptFormat), and the shared scorer scores every candidate of
  a prompt in one batched pass; `generate(spec, tables, lm, fmt, cache)` for the
  generation kind (its rows keep the `prompt` each answer was generated from); a probe
  of both kinds gets the rows of each, concatenated (either may return none);
  `build_reward(spec, tables)` if reward models apply;
- `metrics.py`: `metrics(scores, models, spec, seed)` -> its metrics table, and for each
  name in `tables`, `tables(scores, models, spec, seed)` -> {name: table}. `models` is
  the study's model table (alignshift.registry.model_table).

Adding a probe is adding a folder (docs/probes.md walks through the smallest one).

Every evaluation also records what the model saw (`run_with_prompts`, like
lm-evaluation-harness's `--log_samples`): each score row carries its prompt's
`prompt_hash`, and the prompts table has one row per distinct prompt with its text and
the exact token ids the model received.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from ..provenance import stable_hash
from ..scoring import TOKENIZATION, Prompt
from ..scoring import _bos_to_add as prompt_bos  # the BOS id the scorer and generator add to text
from .errors import ProbeError
from .folders import PROBE_DIR, probe_module
from .prompt_format import PromptFormat, chat_setting, formatter, row_prompt
from .protocol import GENERATION, protocol
from .reward_path import reward_rows
from .score_cache import score_rows
from .stages import Stage, read_stage

# spec keys that describe the workflow around a probe; with the later stages' settings
# groups they never shape prompts or scores, so changing them never rescores
WORKFLOW_KEYS = ("analysis", "stages", "tables")


def available() -> list[str]:
    return sorted(p.parent.name for p in PROBE_DIR.glob("*/spec.yaml"))


@cache
def default_spec(name: str) -> dict:
    path = PROBE_DIR / name / "spec.yaml"
    if not path.exists():
        raise ProbeError(f"unknown probe {name!r}; known: {available()}")
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


def evaluation_spec(spec: dict) -> dict:
    """The settings that shape a probe's prompts and scores: all but its workflow keys
    and its later stages' settings."""
    later = set(WORKFLOW_KEYS) | set(spec.get("stages") or ())
    return {k: v for k, v in spec.items() if k not in later}


def active_stage(spec: dict) -> str | None:
    """The later stage whose output the probe's metrics read (its settings group may
    switch it off with `enabled: false`), or None."""
    for stage in spec.get("stages") or ():
        if (spec.get(stage) or {}).get("enabled", True):
            return stage
    return None


def metrics_module(name: str):
    return probe_module(name, "metrics")


@cache
def stage(name: str, stage: str) -> Stage:
    """A later stage the probe declares (`stages` in its spec.yaml), as the module of the
    stage's name in the probe's folder declares it (probes/judge/judging.py;
    alignshift.probes.stages): its job and how the workflow runs it."""
    if stage not in (default_spec(name).get("stages") or ()):
        raise ProbeError(f"probe {name}: no stage {stage!r}; its stages: {default_spec(name).get('stages') or []}")
    return read_stage(name, stage, probe_module(name, stage))


def check(name: str, spec: dict, models) -> None:
    """A probe's own check of its settings against the study's models (registry names),
    run when the workflow loads: `items.check(spec, models)` where a probe defines it."""
    checker = protocol(name).check
    if checker is not None:
        checker(spec, models)


def build(name: str, spec: dict, tables: dict[str, pd.DataFrame], fmt: PromptFormat,
          allow_empty: bool = False) -> pd.DataFrame:
    rows = protocol(name).build(spec, tables, fmt)
    if rows.empty and not allow_empty:
        raise ProbeError(f"probe {name}: no items after applying its settings {spec}")
    return rows


@dataclass(frozen=True)
class Evaluation:
    """One model's evaluation on one probe: the score table (each row with its prompt's
    `prompt_hash`), the prompts the model saw (PROMPT_COLUMNS, one row per distinct
    prompt) and how they were built (`prompt_settings`)."""

    scores: pd.DataFrame
    prompts: pd.DataFrame
    settings: dict


# the prompts table: `prompt` is the text (for a prompt given as token ids, its ids
# decoded with the special tokens kept), `token_ids` the ids the model received, BOS
# included as the scorer / generator adds it; `given_as` what `prompt_hash` hashes:
# "text", "token_ids" (country_pairs' paper protocol) or "messages" (an API judge's)
PROMPT_COLUMNS = ["prompt_hash", "prompt", "token_ids", "given_as"]


def scoring_path(name: str, model_spec) -> str:
    """How a probe reaches this model: "reward" (a reward model scores whole texts),
    "generate" (a probe of the generation kind alone: answers are generated), or
    "loglik" (the shared scorer's log-likelihoods of each prompt's continuations, and
    for a probe of both kinds, its generated readings beside them)."""
    if getattr(model_spec, "kind", "causal_lm") == "reward_model":
        return "reward"
    return "generate" if protocol(name).generates_only else "loglik"


def run(name: str, spec: dict, tables: dict[str, pd.DataFrame], lm, *, cache: str | Path | None = None,
        chunk_prompts: int = 256, progress=True, **score_kwargs) -> pd.DataFrame:
    """Build a probe's rows for one model, score them, return the tidy table.

    Scores are cached per (model revision, probe spec, prompt, continuations) in
    `cache`, written every `chunk_prompts` prompts, so a killed job rescoring redoes only
    what is missing and the model is never loaded when everything is cached.
    """
    rows, _ = _evaluate(name, spec, tables, lm, cache, chunk_prompts, progress, score_kwargs)
    return _with_prompt_hash(name, rows, lm)[0]


def run_with_prompts(name: str, spec: dict, tables: dict[str, pd.DataFrame], lm, *,
                     cache: str | Path | None = None, chunk_prompts: int = 256, progress=True,
                     **score_kwargs) -> Evaluation:
    """`run`, plus the prompts the model saw: their token ids come from the tokenizer
    alone, so a job whose scores are all cached records them without loading weights."""
    rows, path = _evaluate(name, spec, tables, lm, cache, chunk_prompts, progress, score_kwargs)
    scores, prompts = _with_prompt_hash(name, rows, lm)
    return Evaluation(scores, prompt_table(prompts, lm.tokenizer, path), prompt_settings(spec, lm, path))


def _evaluate(name, spec, tables, lm, cache, chunk_prompts, progress, score_kwargs) -> tuple[pd.DataFrame, str]:
    """The probe's rows for this model, each with the `prompt` it was scored on."""
    fmt = formatter(spec, lm.tokenizer, lm.spec)
    probe = protocol(name)
    path = scoring_path(name, lm.spec)
    if path == "reward":
        # a reward model scores whole (question, response) texts; probes without a
        # `build_reward(spec, tables)` do not apply to it and give an empty table
        return reward_rows(probe, spec, tables, lm, cache), path
    if path == "generate":
        return probe.generate(spec, tables, lm, fmt, cache), path
    both = GENERATION in probe.kinds
    rows = build(name, spec, tables, fmt, allow_empty=both)
    rows = score_rows(name, spec, rows, lm, cache, chunk_prompts, progress, score_kwargs) if len(rows) else rows
    if both:
        # items read both ways (ideology's `reading`): the scored rows, then the rows read
        # from generated answers; either part may be empty, not both
        parts = [p for p in (rows, probe.generate(spec, tables, lm, fmt, cache)) if len(p)]
        if not parts:
            raise ProbeError(f"probe {name}: no items after applying its settings {spec}")
        rows = pd.concat(parts, ignore_index=True)
    return rows, path


def _with_prompt_hash(name: str, rows: pd.DataFrame, lm) -> tuple[pd.DataFrame, dict]:
    """The score table (the prompt replaced by its `prompt_hash`, model and probe in
    front) and its distinct prompts, hash -> Prompt."""
    if "prompt" not in rows:
        if not rows.empty:
            raise ProbeError(f"probe {name}: its rows have no `prompt` column (the text each score was made "
                             "from; `generate(...)` keeps the prompt it generated from)")
        rows = rows.assign(prompt_hash=pd.Series(dtype=object))
        prompts = {}
    else:
        given = rows["prompt"].map(row_prompt)
        prompts = {stable_hash(p.key): p for p in dict.fromkeys(given)}
        hashes = {p: h for h, p in prompts.items()}
        rows = rows.drop(columns=["prompt"]).assign(prompt_hash=[hashes[p] for p in given])
    rows.insert(0, "probe", name)
    rows.insert(0, "model", lm.spec.name)
    return rows, prompts


def prompt_table(prompts: dict[str, Prompt], tokenizer, path: str) -> pd.DataFrame:
    """One row per prompt (hash -> Prompt): PROMPT_COLUMNS, the token ids made the way
    `path` feeds the model (the scorer's and the generator's: given ids as they are, text
    with BOS once; a reward model's `encode_text`: the text's own tokens)."""
    from ..rewards import encode_text

    rows = []
    for prompt_hash, prompt in prompts.items():
        ids = encode_text(tokenizer, prompt.text) if path == "reward" else prompt.encode(tokenizer)
        rows.append({"prompt_hash": prompt_hash, "prompt": prompt.text, "token_ids": [int(i) for i in ids],
                     "given_as": prompt.given_as})
    return pd.DataFrame(rows, columns=PROMPT_COLUMNS)


def prompt_settings(spec: dict, lm, path: str) -> dict:
    """How this model's prompts for this probe were built (the prompts table's
    provenance): the scoring path, the prompt format and chat template (its hash: the
    tokenizer's own or the probe's Jinja override), system prompt, answer cue, prefix
    join, the model's answer prefill, the BOS id the tokenizer adds, and the scorer's
    tokenization or the reward format."""
    from ..prompts import ANSWER_CUE

    fmt = formatter(spec, lm.tokenizer, lm.spec)
    chat = chat_setting(spec, lm.spec)
    template = chat if isinstance(chat, str) else lm.tokenizer.chat_template
    settings = {
        "scoring_path": path,
        "prompt_format": getattr(lm.spec, "prompt_format", "auto"),
        "chat_template_applied": bool(fmt.chat) if path != "reward" else False,
        "chat_template_hash": stable_hash(template) if fmt.chat and path != "reward" else None,
        "system_prompt": spec.get("system_prompt"),
        "answer_cue": spec.get("answer_cue", ANSWER_CUE),
        "prefix_join": spec.get("prefix_join", "direct"),
        "answer_prefill": getattr(lm.spec, "answer_prefill", None),
        "bos_token_id": prompt_bos(lm.tokenizer),
    }
    if path == "loglik":
        settings["tokenization"] = TOKENIZATION
    if path == "reward":
        settings["reward_format"] = spec.get("reward_format")
    return settings
