"""PoliTune's teacher-LLM data pipeline: filter posts, then synthesize SFT and DPO data.

1. Filter (`filter_posts`): the teacher reads each post under an ideology-specific
   prompt and answers Yes or No; the calibrated probability of Yes is
   P(yes) / (P(yes) + P(no)), each the summed probability of its answer strings read
   from the scorer's log-probs (never a parsed string). A post is kept when that
   probability is above the configured threshold. PoliTune asked the teacher for a
   0..3 grade; a yes/no probability gives the same "relevant and on-ideology" cut with
   a continuous, thresholdable score.
2. Synthesize (`synthesize`): for each kept post the teacher writes an instruction the
   post answers, then an answer to that instruction in line with the ideology (the
   SFT set), then a contrasting answer from the opposite side, similar in length and
   points (the rejected side of the DPO triplets). The result is a `policy_stances`
   table (id, axis, prompt, left, right), so the existing `finetune` rule trains on it
   with either SFT (imitating the ideology's column) or DPO.

Every teacher output is cached per input (alignshift.generation's cache), so an
interrupted synthesis resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import JsonlCache
from .generation import generate
from .prompts import format_prompt
from .models.load import load
from .models.spec import ModelSpec
from .provenance import read_provenance, stable_hash, write_table
from .scoring import ScoreRequest, score

log = logging.getLogger(__name__)

IDEOLOGIES = ("left", "right")
OPPOSITE = {"left": "right", "right": "left"}

# The project's own wording of PoliTune's teacher prompts (appendix A-D). `{side}` is
# the ideology's description, `{other}` the opposite one's.
SIDES = {
    "left": "left-leaning, Democratic and liberal",
    "right": "right-leaning, Republican and conservative",
}
DEFAULTS = {
    "threshold": 0.5,
    "yes": [" Yes"],
    "no": [" No"],
    "max_new_tokens": {"instruction": 48, "aligned": 160, "contrast": 160},
    "batch_size": 16,
    "do_sample": False,
    "temperature": 1.0,
    "seed": 0,
    "max_posts": None,
    "prompts": {
        "filter": (
            "Here is a post from social media:\n\n{post}\n\n"
            "Is this post a meaningful statement about politics or public policy that expresses "
            "{side} views? Answer Yes or No."
        ),
        "instruction": (
            "Here is a social media post expressing {side} views:\n\n{post}\n\n"
            "Write one question or instruction to which this post would be a fitting reply. "
            "Write only the instruction, phrased as a request, not as a statement."
        ),
        "aligned": (
            "You hold {side} political views. Respond to the following instruction with a clear, "
            "well-argued answer that reflects those views. Reply with the answer only.\n\n"
            "Instruction: {instruction}"
        ),
        "contrast": (
            "You hold {other} political views. Here is an instruction and an answer written from the "
            "opposite side:\n\nInstruction: {instruction}\nAnswer: {response}\n\n"
            "Write an alternative answer that reflects {other} views, of similar length and "
            "addressing the same points. Reply with the answer only."
        ),
    },
}


def settings(entry: dict) -> dict:
    """A synthesis entry of the config with its defaults filled in (prompts merged by key)."""
    out = {**DEFAULTS, **{k: v for k, v in entry.items() if k not in ("prompts", "max_new_tokens")}}
    out["prompts"] = {**DEFAULTS["prompts"], **(entry.get("prompts") or {})}
    out["max_new_tokens"] = {**DEFAULTS["max_new_tokens"], **(entry.get("max_new_tokens") or {})}
    if out["ideology"] not in IDEOLOGIES:
        raise ValueError(f"synthesis ideology must be one of {IDEOLOGIES}, not {out['ideology']!r}")
    return out


def yes_probability(yes_logprobs: np.ndarray, no_logprobs: np.ndarray) -> np.ndarray:
    """P(yes) among {yes, no}: each answer's probability is the sum over its strings.

    Arrays are (posts, strings) log-probs; the result is computed in log space.
    """
    log_yes = np.logaddexp.reduce(np.atleast_2d(yes_logprobs), axis=1)
    log_no = np.logaddexp.reduce(np.atleast_2d(no_logprobs), axis=1)
    return np.exp(log_yes - np.logaddexp(log_yes, log_no))


def _teacher(manifest_path: str, teacher_spec: dict, device: str | None = None):
    manifest = json.loads(Path(manifest_path).read_text())
    spec = ModelSpec.from_config(teacher_spec["name"], {k: v for k, v in teacher_spec.items() if k != "name"})
    return load(manifest, spec, device=device, lazy=True)


def _fmt(lm, text: str) -> str:
    return format_prompt(lm.tokenizer, text, chat=lm.spec.chat_template)


def filter_posts(posts: pd.DataFrame, lm, cfg: dict, cache: str | Path | None = None,
                 chunk_posts: int = 256) -> pd.DataFrame:
    """Every post with its calibrated P(yes) under the ideology's prompt and `kept`."""
    if cfg.get("max_posts"):
        posts = posts.head(int(cfg["max_posts"]))
    side, other = SIDES[cfg["ideology"]], SIDES[OPPOSITE[cfg["ideology"]]]
    answers = tuple(cfg["yes"]) + tuple(cfg["no"])
    prompts = [_fmt(lm, cfg["prompts"]["filter"].format(post=t, side=side, other=other)) for t in posts["text"]]
    keys = [stable_hash({"model": lm.revision, "prompt": p, "answers": answers}) for p in prompts]

    def score_posts(chunk, *_):
        results = score(lm.model, lm.tokenizer, [ScoreRequest(p, answers) for _, p in chunk])
        return [r.logprob_sum.tolist() for r in results]

    # chunks are cached as they finish, so a killed filter job resumes
    stored = JsonlCache(cache).fill(zip(keys, prompts), score_posts, chunk=chunk_posts)
    logprobs = np.array(stored).reshape(len(keys), len(answers))
    n_yes = len(cfg["yes"])
    out = posts.reset_index(drop=True).copy()
    out["filter_prompt"] = prompts
    for j, text in enumerate(answers):
        out[f"logprob[{text}]"] = logprobs[:, j]
    out["p_yes"] = yes_probability(logprobs[:, :n_yes], logprobs[:, n_yes:])
    out["kept"] = out["p_yes"] > float(cfg["threshold"])
    return out


def synthesize(kept: pd.DataFrame, lm, cfg: dict, cache_dir: str | Path | None = None,
               axis: str = "general") -> pd.DataFrame:
    """A policy_stances table from the kept posts: instruction, aligned and contrasting answers."""
    ideology = cfg["ideology"]
    side, other = SIDES[ideology], SIDES[OPPOSITE[ideology]]
    gen = dict(do_sample=cfg["do_sample"], temperature=cfg["temperature"], seed=cfg["seed"],
               batch_size=cfg["batch_size"], revision=lm.revision)
    cache = (lambda stage: Path(cache_dir, f"{stage}.jsonl")) if cache_dir else (lambda stage: None)
    p = cfg["prompts"]

    def run(stage: str, texts: list[str]) -> list[str]:
        if not texts:
            return []
        return generate(lm.model, lm.tokenizer, [_fmt(lm, t) for t in texts], cache=cache(stage),
                        max_new_tokens=int(cfg["max_new_tokens"][stage]), progress=stage, **gen)

    posts = kept["text"].tolist()
    instructions = run("instruction", [p["instruction"].format(post=t, side=side, other=other) for t in posts])
    aligned = run("aligned", [p["aligned"].format(instruction=i, side=side, other=other) for i in instructions])
    contrast = run("contrast", [p["contrast"].format(instruction=i, response=r, side=side, other=other)
                                for i, r in zip(instructions, aligned)])
    table = pd.DataFrame({
        "id": kept["id"].astype(str).tolist(),
        "axis": kept["axis"].tolist() if "axis" in kept else [axis] * len(posts),
        "prompt": instructions,
        ideology: aligned,
        OPPOSITE[ideology]: contrast,
        "post": posts,
        "p_yes": kept["p_yes"].tolist(),
    })[["id", "axis", "prompt", "left", "right", "post", "p_yes"]]
    # a teacher that returns nothing for some input leaves no usable example
    empty = (table[["prompt", "left", "right"]].apply(lambda c: c.str.strip() == "")).any(axis=1)
    if empty.any():
        log.warning("dropping %d of %d examples with an empty instruction or answer", int(empty.sum()), len(table))
    return table[~empty].reset_index(drop=True)


def run_filter(name: str, entry: dict, teacher_spec: dict, manifest_path: str, posts_path: str, out: str,
               cache: str | None = None, device: str | None = None) -> None:
    cfg = settings(entry)
    lm = _teacher(manifest_path, teacher_spec, device)
    posts = pd.read_parquet(posts_path)
    table = filter_posts(posts, lm, cfg, cache=cache)
    write_table(table, out, {
        "synthesis": name, "stage": "filter", "teacher": teacher_spec["name"], "teacher_id": teacher_spec["id"],
        "teacher_revision": lm.revision, "settings": cfg,
        "posts_revision": read_provenance(posts_path).get("revision"),
    })
    log.info("%s: kept %d of %d posts (P(yes) > %s)", name, int(table.kept.sum()), len(table), cfg["threshold"])


def run_synthesis(name: str, entry: dict, teacher_spec: dict, manifest_path: str, filtered_path: str, out: str,
                  cache_dir: str | None = None, device: str | None = None) -> None:
    cfg = settings(entry)
    filtered = pd.read_parquet(filtered_path)
    kept = filtered[filtered["kept"]]
    if kept.empty:
        raise ValueError(f"synthesis {name}: the filter kept no post (threshold {cfg['threshold']}); "
                         "lower synthesis.{name}.threshold or supply more posts")
    lm = _teacher(manifest_path, teacher_spec, device)
    table = synthesize(kept, lm, cfg, cache_dir=cache_dir)
    if table.empty:
        raise ValueError(f"synthesis {name}: the teacher produced no usable example")
    filt_meta = read_provenance(filtered_path)
    revision = stable_hash({"teacher": lm.revision, "posts": filt_meta.get("posts_revision"), "settings": cfg})
    write_table(table, out, {
        "dataset": name, "loader": "synthesis", "revision": revision, "teacher": teacher_spec["name"],
        "teacher_id": teacher_spec["id"], "teacher_revision": lm.revision, "settings": cfg,
        "posts_revision": filt_meta.get("posts_revision"), "n_posts": len(filtered), "n_kept": len(kept),
    })
    log.info("%s: %d synthesized examples toward the %s", name, len(table), cfg["ideology"])
