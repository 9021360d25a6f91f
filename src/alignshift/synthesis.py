"""PoliTune's teacher-LLM data pipeline: filter posts, then synthesize SFT and DPO data.

Two protocols (`protocol`):

- `paper` (PoliTune as published, appendices A-D): the teacher grades each post 0..3
  under the ideology's appendix-A prompt (0 no political expression, 1 the opposite
  ideology, 2 usable for the ideology, 3 strongly the ideology); the grade is the most
  probable of the reply strings "0".."3" (what a greedy teacher replies), read from the
  scorer's log-probs with their renormalised probabilities and expected value recorded;
  a post is kept when its grade is in `keep_grades` ([2, 3]: the paper keeps "relevant
  and ideologically consistent content" and names no cut-off). The teacher then writes
  an instruction the post answers (appendix B), an answer in line with the ideology to
  the instruction and the post (appendix C) and a contrasting answer to that (appendix D).
- `project` (the default): a yes/no filter, P(yes) = P(yes strings) / (P(yes strings) +
  P(no strings)) above `threshold`, and the project's own wording of the four prompts.

`synthesize` writes two tables: the DPO triplets as a `policy_stances` table (id, axis,
prompt, left, right: the instruction, the ideology's answer and the contrasting one),
which `finetune` runs name as their `data` (SFT imitates the ideology's column, DPO
prefers it), and the phase-1 set (`<name>.phase1`): the instruction with the raw post as
the ideology's answer (the paper's "base" instruction set), the other column empty.

Every teacher output is cached per input (alignshift.generation's cache), so an
interrupted synthesis resumes where it stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import JsonlCache
from .directions import opposite
from .generation import generate
from .models.load import load_fetched
from .prompts import format_prompt
from .provenance import read_provenance, stable_hash, write_table
from .scoring import Prompt, ScoreRequest, score

log = logging.getLogger(__name__)

# The project's own wording of PoliTune's teacher prompts (appendix A-D). `{side}` is
# the ideology's description, `{other}` the opposite one's.
DESCRIPTIONS = {
    "left": "left-leaning, Democratic and liberal",
    "right": "right-leaning, Republican and conservative",
}
# PoliTune's appendices A-D, word for word (typos included) but without the
# unpublished few-shot examples their ";Examples;" placeholders stand for. Appendix C
# prints one text (Democratic-aligned) under the right-leaning heading and none under the
# left: it is used for the left, and its Republican mirror, written here, for the right.
# How the post, instruction and response are attached is the project's choice.
PAPER_PROMPTS = {
    "right": {
        "filter": (
            "You are an assistant. You will be given a post from social media that will be used to express right, "
            "republican, and conservative political ideology. Your job is to provide an integer 0, 1, 2, or 3, where 0 "
            "means that the post doesn't include any political expression, and cannot be used to infer political "
            "ideology. 1 means that the post contains political expression but is related to left-leaning libertarian "
            "ideology, not right, republican, and conservative political ideology. 2 means that the post can be used to "
            "express right, republican, and conservative political ideology. 3 means that the post is explicitly used to "
            "strongly express right, republican, and conservative political ideology.\n\nPost: {post}"
        ),
        "instruction": (
            "You are an assistant who supports the American Republican party. For the following input from right, "
            "Republican, and conservative ideology, your job is to generate an instruction that can be answered by the "
            "input post. Your output should be in the form of an instruction not a statement.\n\nInput: {post}"
        ),
        "aligned": (
            "You are an assistant who supports the American Republican party. For the following pair of instruction and "
            "response, write a an alternative response that is in line with the Republican party's views. Respond "
            "directly with the alternative opposing response without discourse markers, prefixes or justifications."
            "\n\nInstruction: {instruction}\nResponse: {post}"
        ),
        "contrast": (
            "You are an assistant who supports the American Democratic party. For the following pair of instruction and "
            "response, write a an alternative response that is in line with the Democratic party's views. The "
            "alternative response should be simmilar in length and argument points to the original response. Respond "
            "directly with the alternative response without discourse marker, prefixes or justifications."
            "\n\nInstruction: {instruction}\nResponse: {response}"
        ),
    },
    "left": {
        "filter": (
            "You are an assistant. You will be given a post from social media that will be used to express left, "
            "Democratic, and liberal political ideology. Your job is to provide an integer 0, 1, 2, or 3, where 0 means "
            "that the post doesn't include any political expression, and cannot be used to infer political ideology. 1 "
            "means that the post contains political expression but is related to right-leaning conservative ideology, "
            "not left, Democratic, and liberal political ideology. 2 means that the post can be used to express left, "
            "Democratic, and liberal political ideology. 3 means that the post is explicitly used to strongly express "
            "left, Democratic, and liberal political ideology.\n\nPost: {post}"
        ),
        "instruction": (
            "You are an assistant who supports the American Democratic party. For the following input from left, "
            "Democratic, and liberal ideology, your job is to generate an instruction that can be answered by the input "
            "post. Your output should be in the form of an instruction not a statement.\n\nInput: {post}"
        ),
        "aligned": (
            "You are an assistant who supports the American Democratic party. For the following pair of instruction and "
            "response, write a an alternative response that is in line with the Democratic party's views. Respond "
            "directly with the alternative opposing response without discourse markers, prefixes or justifications."
            "\n\nInstruction: {instruction}\nResponse: {post}"
        ),
        "contrast": (
            "You are an assistant who supports the American Republican party. For the following pair of instruction and "
            "response, write a an alternative response that is in line with the Republican party's views. The "
            "alternative response should be simmilar in length and argument points to the original response. Respond "
            "directly with the alternative response without discourse marker, prefixes or justifications."
            "\n\nInstruction: {instruction}\nResponse: {response}"
        ),
    },
}
PROTOCOLS = ("project", "paper")
DEFAULTS = {
    "protocol": "project",
    "threshold": 0.5,
    "grades": None,          # protocol paper: the reply strings of 0..3 (null: by the teacher's format)
    "keep_grades": [2, 3],   # protocol paper: the grades kept
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
    """A synthesis entry of the config with its defaults filled in (prompts merged by key
    over the protocol's: the paper's appendices or the project's wording)."""
    out = {**DEFAULTS, **{k: v for k, v in entry.items() if k not in ("prompts", "max_new_tokens")}}
    if out["protocol"] not in PROTOCOLS:
        raise ValueError(f"synthesis protocol must be one of {PROTOCOLS}, not {out['protocol']!r}")
    opposite(out.get("ideology"), "synthesis ideology")  # a known direction
    base = PAPER_PROMPTS[out["ideology"]] if out["protocol"] == "paper" else DEFAULTS["prompts"]
    out["prompts"] = {**base, **(entry.get("prompts") or {})}
    out["max_new_tokens"] = {**DEFAULTS["max_new_tokens"], **(entry.get("max_new_tokens") or {})}
    return out


def yes_probability(yes_logprobs: np.ndarray, no_logprobs: np.ndarray) -> np.ndarray:
    """P(yes) among {yes, no}: each answer's probability is the sum over its strings.

    Arrays are (posts, strings) log-probs; the result is computed in log space.
    """
    log_yes = np.logaddexp.reduce(np.atleast_2d(yes_logprobs), axis=1)
    log_no = np.logaddexp.reduce(np.atleast_2d(no_logprobs), axis=1)
    return np.exp(log_yes - np.logaddexp(log_yes, log_no))


def grade_strings(cfg: dict, chat: bool) -> list[str]:
    """The teacher's reply strings for the grades 0..3: a chat model's reply starts the
    turn; a plain model continues "...Answer:" after a space."""
    if cfg.get("grades"):
        if len(cfg["grades"]) != 4:
            raise ValueError(f"synthesis grades: four reply strings (0..3), not {cfg['grades']!r}")
        return list(cfg["grades"])
    return [("" if chat else " ") + str(k) for k in range(4)]


def grade_probabilities(logprobs: np.ndarray) -> np.ndarray:
    """(posts, 4) log-probs of the reply strings 0..3 -> probabilities renormalised over them."""
    lp = np.atleast_2d(np.asarray(logprobs, dtype=float))
    return np.exp(lp - np.logaddexp.reduce(lp, axis=1, keepdims=True))


def _fmt(lm, text: str) -> str:
    return format_prompt(lm.tokenizer, text, chat=lm.spec.chat_template, prompt_format=lm.spec.prompt_format)


def filter_posts(posts: pd.DataFrame, lm, cfg: dict, cache: str | Path | None = None,
                 chunk_posts: int = 256) -> pd.DataFrame:
    """Every post with the teacher's verdict under the ideology's prompt and `kept`:
    protocol project, its calibrated P(yes); protocol paper, its grade 0..3."""
    if cfg.get("max_posts"):
        posts = posts.head(int(cfg["max_posts"]))
    side, other = DESCRIPTIONS[cfg["ideology"]], DESCRIPTIONS[opposite(cfg["ideology"])]
    paper = cfg.get("protocol", "project") == "paper"
    chat = bool(lm.spec.chat_template and lm.tokenizer.chat_template and lm.spec.prompt_format == "auto")
    answers = tuple(grade_strings(cfg, chat)) if paper else tuple(cfg["yes"]) + tuple(cfg["no"])
    prompts = [_fmt(lm, cfg["prompts"]["filter"].format(post=t, side=side, other=other)) for t in posts["text"]]
    keys = [stable_hash({"model": lm.revision, "prompt": p, "answers": answers}) for p in prompts]

    def score_posts(chunk, *_):
        results = score(lm.model, lm.tokenizer, [ScoreRequest(Prompt(p), answers) for _, p in chunk])
        return [r.logprob_sum.tolist() for r in results]

    # chunks are cached as they finish, so a killed filter job resumes
    stored = JsonlCache(cache).fill(zip(keys, prompts), score_posts, chunk=chunk_posts)
    logprobs = np.array(stored).reshape(len(keys), len(answers))
    out = posts.reset_index(drop=True).copy()
    out["filter_prompt"] = prompts
    for j, text in enumerate(answers):
        out[f"logprob[{text}]"] = logprobs[:, j]
    if paper:
        p = grade_probabilities(logprobs)
        for k in range(4):
            out[f"p_grade{k}"] = p[:, k]
        out["grade"] = p.argmax(axis=1)
        out["expected_grade"] = p @ np.arange(4)
        out["kept"] = out["grade"].isin([int(g) for g in cfg["keep_grades"]])
        return out
    n_yes = len(cfg["yes"])
    out["p_yes"] = yes_probability(logprobs[:, :n_yes], logprobs[:, n_yes:])
    out["kept"] = out["p_yes"] > float(cfg["threshold"])
    return out


def synthesize(kept: pd.DataFrame, lm, cfg: dict, cache_dir: str | Path | None = None,
               axis: str = "general") -> pd.DataFrame:
    """A policy_stances table from the kept posts: instruction, aligned and contrasting
    answers (and the post, and the filter's verdict). `phase1(table)` is the phase-1 set."""
    ideology = cfg["ideology"]
    side, other = DESCRIPTIONS[ideology], DESCRIPTIONS[opposite(ideology)]
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
    aligned = run("aligned", [p["aligned"].format(instruction=i, post=t, side=side, other=other)
                              for i, t in zip(instructions, posts)])
    contrast = run("contrast", [p["contrast"].format(instruction=i, response=r, post=t, side=side, other=other)
                                for i, r, t in zip(instructions, aligned, posts)])
    table = pd.DataFrame({
        "id": kept["id"].astype(str).tolist(),
        "axis": kept["axis"].tolist() if "axis" in kept else [axis] * len(posts),
        "prompt": instructions,
        ideology: aligned,
        opposite(ideology): contrast,
        "post": posts,
    })[["id", "axis", "prompt", "left", "right", "post"]]
    verdict = "grade" if "grade" in kept else "p_yes"
    table[verdict] = kept[verdict].tolist()
    return table


def usable(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The rows whose `columns` are all non-empty (a teacher that returns nothing for some
    input leaves no usable example)."""
    empty = (table[columns].apply(lambda c: c.str.strip() == "")).any(axis=1)
    if empty.any():
        log.warning("dropping %d of %d examples with an empty %s", int(empty.sum()), len(table), " or ".join(columns))
    return table[~empty].reset_index(drop=True)


def phase1(table: pd.DataFrame, ideology: str) -> pd.DataFrame:
    """PoliTune's phase-1 ("base") instruction set: each instruction with the raw post as
    the ideology's answer; the opposite column is empty (there is no contrasting answer)."""
    out = table.copy()
    out[ideology] = out["post"]
    out[opposite(ideology)] = ""
    return usable(out, ["prompt", ideology])


def run_filter(name: str, entry: dict, teacher_spec: dict, manifest_path: str, posts_path: str, out: str,
               cache: str | None = None, device: str | None = None) -> None:
    cfg = settings(entry)
    lm = load_fetched(manifest_path, teacher_spec, device=device)
    posts = pd.read_parquet(posts_path)
    table = filter_posts(posts, lm, cfg, cache=cache)
    write_table(table, out, {
        "synthesis": name, "stage": "filter", "teacher": teacher_spec["name"], "teacher_id": teacher_spec["id"],
        "teacher_revision": lm.revision, "settings": cfg,
        "posts_revision": read_provenance(posts_path).get("revision"),
    })
    rule = (f"grade in {cfg['keep_grades']}" if cfg["protocol"] == "paper" else f"P(yes) > {cfg['threshold']}")
    log.info("%s: kept %d of %d posts (%s)", name, int(table.kept.sum()), len(table), rule)


def run_synthesis(name: str, entry: dict, teacher_spec: dict, manifest_path: str, filtered_path: str, out: str,
                  cache_dir: str | None = None, device: str | None = None, out_phase1: str | None = None) -> None:
    cfg = settings(entry)
    filtered = pd.read_parquet(filtered_path)
    kept = filtered[filtered["kept"]]
    if kept.empty:
        raise ValueError(f"synthesis {name}: the filter kept no post (threshold {cfg['threshold']}); "
                         "lower synthesis.{name}.threshold or supply more posts")
    lm = load_fetched(manifest_path, teacher_spec, device=device)
    synthesized = synthesize(kept, lm, cfg, cache_dir=cache_dir)
    table = usable(synthesized, ["prompt", "left", "right"])
    if table.empty:
        raise ValueError(f"synthesis {name}: the teacher produced no usable example")
    filt_meta = read_provenance(filtered_path)
    revision = stable_hash({"teacher": lm.revision, "posts": filt_meta.get("posts_revision"), "settings": cfg})
    meta = {"loader": "synthesis", "teacher": teacher_spec["name"], "teacher_id": teacher_spec["id"],
            "teacher_revision": lm.revision, "settings": cfg, "posts_revision": filt_meta.get("posts_revision"),
            "n_posts": len(filtered), "n_kept": len(kept)}
    write_table(table, out, {"dataset": name, "revision": revision, **meta})
    log.info("%s: %d synthesized examples toward the %s", name, len(table), cfg["ideology"])
    if out_phase1:
        base = phase1(synthesized, cfg["ideology"])
        write_table(base, out_phase1, {"dataset": f"{name}.phase1", "revision": stable_hash([revision, "phase1"]),
                                       **meta})
        log.info("%s.phase1: %d instructions answered by their posts", name, len(base))
