"""The judge probe's later stage (rule `judging_judge`; `judging_judge_api` for an API
judge, which requests no GPU): the judge scores every model's answers, once for the
study. Two backends (`judging.backend`):

- `local` (default): a registry model, loaded once; an answer's score is the expected
  value over the judge's probabilities of the score strings (see items.py);
- `openai`: any OpenAI-compatible chat-completions endpoint (GPT-4 as in the paper, or a
  local `transformers serve`): the judge's reply is read as text, as the paper read
  GPT-4's, and its score is the first number in it when that is a whole number in
  0..scale_max, else NaN (`parse_score`). The API key is read from the environment
  variable `api.key_env` names and is never logged, cached or written to an output.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from ...cache import JsonlCache
from ...models.fetch import read_manifest
from ...models.load import load
from ...prompts import format_prompt
from ...provenance import read_provenance, stable_hash, write_table
from ...tables import utf8_safe
from ...scoring import Prompt, ScoreRequest, score
from .. import ProbeError
from ..answers import parse_score

log = logging.getLogger(__name__)
BACKENDS = ("local", "openai")

# --- how the workflow runs the stage (alignshift.probes.stages) ----------------------------
# one job for the study: every model's answers judged into one table, the judge model
# loaded once (the study's models are known only once its runs are planned); it records
# the prompts the judge read
JOB_PER = "study"
RECORDS_PROMPTS = True
CONDA_ENV = "gpu"
THREADS = "evaluate"


def rule_name(probe: str, judging: dict) -> str:
    # an API judge's rule has its own name, so a cluster profile sends it to its CPU
    # partition and the local judge's to its GPU partition
    return f"judging_{probe}" if backend(judging) == "local" else f"judging_{probe}_api"


def helper_models(judging: dict) -> dict[str, str]:
    """The local judge: a registry model (its manifest: `inputs["manifest"]`)."""
    return {"manifest": judging["model"]} if backend(judging) == "local" else {}


def resources(judging: dict) -> dict:
    # the local judge's GPU; an API judge requests none
    return {"gpu": 1, "mem_mb": 6000} if backend(judging) == "local" else {"mem_mb": 6000}


def cache_path(judging: dict) -> str:
    """Judge scores are cached per prompt, per judge: a new checkpoint's answers cost only
    their own judging."""
    if backend(judging) == "openai":
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str((judging.get("api") or {}).get("model")))
        return f"results/cache/judging/api-{name}.jsonl"
    return f"results/cache/judging/{judging['model']}.jsonl"


def score_strings(scale_max: int, chat: bool) -> list[str]:
    # a plain-format judge continues "...Answer:" so its number follows a space
    return [("" if chat else " ") + str(k) for k in range(scale_max + 1)]


def expected_score(logprobs) -> float:
    """Expected score sum_k k p_k with p = softmax over the score strings' log-probs."""
    lp = np.asarray(logprobs, dtype=float)
    p = np.exp(lp - np.logaddexp.reduce(lp))
    return float(p @ np.arange(len(lp)))


def load_judge(judging: dict, manifest_path: str | Path, device: str | None = None):
    manifest = read_manifest(manifest_path)
    if manifest["name"] != judging.get("model"):
        raise ProbeError(f"judge: manifest {manifest_path} is of {manifest['name']!r}, not {judging.get('model')!r}")
    return manifest, load(manifest, device=device, lazy=True)


def judge_chat(judge) -> bool:
    """Whether a local judge reads its prompt through its chat template."""
    return bool(judge.spec.chat_template and judge.tokenizer.chat_template)


def judge_prompts(judging: dict, answers, judge) -> list[str]:
    """The local judge's prompt for each answer (the judging prompt around it, in the
    judge's chat template or prompt format)."""
    chat = judge_chat(judge)
    system = judging.get("system_prompt")

    def text(answer: str) -> str:
        user = judging["prompt"].format(answer=answer)
        # a judge without a chat template reads the system prompt as the text's start
        return user if chat or not system else f"{system}\n\n{user}"

    return [format_prompt(judge.tokenizer, text(a), chat=chat, system=system, prompt_format=judge.spec.prompt_format)
            for a in answers]


def local_prompts(judging: dict, answers, judge) -> tuple[pd.DataFrame, dict]:
    """What a local judge reads for each answer, as the prompts table of an evaluation
    (alignshift.probes.prompt_table: keyed by the hash its score rows carry as
    `judge_prompt_hash`, token ids as the scorer makes them), and how it was built."""
    from .. import prompt_bos, prompt_table

    prompts = judge_prompts(judging, answers, judge)
    chat = judge_chat(judge)
    settings = {"scoring_path": "loglik", "prompt_format": judge.spec.prompt_format, "chat_template_applied": chat,
                "chat_template_hash": stable_hash(judge.tokenizer.chat_template) if chat else None,
                "system_prompt": judging.get("system_prompt"), "bos_token_id": prompt_bos(judge.tokenizer)}
    return prompt_table({stable_hash(p): Prompt(p) for p in prompts}, judge.tokenizer, "loglik"), settings


JUDGE_CHUNK = 256


def judge_answers(judging: dict, answered: pd.DataFrame, judge, manifest: dict, cache) -> pd.DataFrame:
    """Score rows: one per (answer, score string), with the judge's log-probs. The
    judge is only loaded (lazily) if some answer's scores are not in `cache`."""
    strings = score_strings(int(judging["scale_max"]), judge_chat(judge))
    prompts = judge_prompts(judging, answered["answer"], judge)
    keys = [stable_hash({"judge": judge.revision, "prompt": p, "strings": strings}) for p in prompts]

    def judge_chunk(chunk, done, total):
        results = score(judge.model, judge.tokenizer, [ScoreRequest(Prompt(p), tuple(strings)) for _, p in chunk],
                        progress=f"judge {judge.spec.name} [{total} answers]")
        return [r.logprob_sum.tolist() + r.n_tokens.tolist() for r in results]

    # stored every JUDGE_CHUNK answers: a killed judging job keeps what it had judged
    stored = JsonlCache(cache).fill(zip(keys, prompts), judge_chunk, chunk=JUDGE_CHUNK, sort_key=lambda kv: kv)
    rows = []
    for (_, ans), values, prompt in zip(answered.iterrows(), stored, prompts):
        lps, counts = values[: len(strings)], values[len(strings):]
        value = expected_score(lps)
        for k, (text, lp, n) in enumerate(zip(strings, lps, counts)):
            rows.append({**ans.to_dict(), "candidate": k, "continuation": text, "logprob_sum": lp,
                         "n_tokens": int(n), "logprob_mean": lp / max(int(n), 1), "judge_score": value,
                         "judge_backend": "local",
                         "judge_prompt_hash": stable_hash(prompt), "judge_model": judge.spec.name,
                         "judge_id": manifest["id"], "judge_revision": judge.revision})
    return pd.DataFrame(rows)


# --- backend `openai`: an OpenAI-compatible chat-completions endpoint ----------------------

API_DEFAULTS = {"base_url": None, "model": None, "key_env": None, "max_tokens": 16, "temperature": 0.0,
                "timeout": 120, "retries": 3}


def backend(judging: dict) -> str:
    name = judging.get("backend") or "local"
    if name not in BACKENDS:
        raise ProbeError(f"judging.backend must be one of {BACKENDS}, not {name!r}")
    return name


def api_settings(judging: dict) -> dict:
    """`judging.api` with its defaults; base_url and model are required."""
    given = judging.get("api") or {}
    unknown = sorted(set(given) - set(API_DEFAULTS))
    if unknown:
        raise ProbeError(f"judging.api.{unknown[0]}: unknown setting; known: {sorted(API_DEFAULTS)}")
    api = {**API_DEFAULTS, **given}
    for key in ("base_url", "model"):
        if not api[key]:
            raise ProbeError(f"judging.api.{key} is required with judging.backend: openai")
    return api


def api_key(api: dict) -> str | None:
    """The key from the environment variable `api.key_env` (None when no variable is named)."""
    name = api.get("key_env")
    if not name:
        return None
    key = os.environ.get(name)
    if not key:
        raise ProbeError(f"judging.api.key_env: the environment variable {name} is not set")
    return key


def redact(text: str, key: str | None) -> str:
    """`text` without the key, nor anything shaped like an OpenAI key (servers echo a
    masked key in their 401 messages)."""
    if key:
        text = text.replace(key, "<key>")
    return re.sub(r"sk-[A-Za-z0-9_*.\-]{4,}", "sk-<redacted>", text)


def chat_completion(api: dict, messages: list[dict], key: str | None) -> dict:
    """One non-streaming /chat/completions request: {"reply", "model"} (the model name the
    server answered with). Retries on connection errors, 429 and 5xx; any other HTTP
    error stops the job with the server's message (never the key)."""
    url = api["base_url"].rstrip("/") + "/chat/completions"
    body = {"model": api["model"], "messages": messages, "max_tokens": int(api["max_tokens"]),
            "temperature": float(api["temperature"]), "stream": False}
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    attempts = max(int(api["retries"]), 1)
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=float(api["timeout"])) as response:
                payload = json.loads(response.read().decode("utf-8"))
            break
        except urllib.error.HTTPError as exc:
            detail = redact(exc.read().decode("utf-8", "replace")[:500], key)
            if exc.code != 429 and exc.code < 500 or attempt == attempts - 1:
                raise ProbeError(f"judge API {url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == attempts - 1:
                raise ProbeError(f"judge API {url}: {exc}") from None
        time.sleep(2 ** attempt)
    try:
        reply = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ProbeError(f"judge API {url}: no choices[0].message.content in the response: {str(payload)[:300]}")
    # a JSON reply may carry a lone surrogate escape, which no table can hold
    return {"reply": utf8_safe(reply or ""), "model": payload.get("model") or api["model"]}


def api_messages(judging: dict, answer: str) -> list[dict]:
    system = judging.get("system_prompt")
    user = judging["prompt"].format(answer=answer)
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def api_prompts(judging: dict, answers) -> tuple[pd.DataFrame, dict]:
    """What an API judge is sent for each answer, in the prompts table's columns: the
    chat messages as JSON text (`given_as` "messages"; the server tokenizes them, so no
    token ids), keyed by the hash its score rows carry as `judge_prompt_hash`; and the
    request's settings."""
    from .. import PROMPT_COLUMNS

    api = api_settings(judging)
    sent = {stable_hash(m): m for m in (api_messages(judging, a) for a in answers)}
    table = pd.DataFrame([{"prompt_hash": h, "prompt": json.dumps(m, ensure_ascii=False), "token_ids": None,
                           "given_as": "messages"} for h, m in sent.items()], columns=PROMPT_COLUMNS)
    return table, {"scoring_path": "api", **{k: api[k] for k in ("base_url", "model", "max_tokens", "temperature")}}


def api_judge_answers(judging: dict, answered: pd.DataFrame, cache, complete=chat_completion) -> pd.DataFrame:
    """Score rows, one per answer: the judge's reply (`judge_reply`) and the score read from
    it (`judge_score`, NaN when it holds none in range). Replies are cached per prompt,
    keyed by endpoint, model, messages and sampling settings (never the key), and stored
    one by one, so a killed job asks only what it had not."""
    api = api_settings(judging)
    scale_max = int(judging["scale_max"])
    messages = [api_messages(judging, a) for a in answered["answer"]]
    asked = {k: api[k] for k in ("base_url", "model", "max_tokens", "temperature")}
    keys = [stable_hash({"api": asked, "messages": m}) for m in messages]
    store = JsonlCache(cache)
    key = api_key(api) if any(k not in store for k in keys) else None

    def ask(chunk, done, total):
        log.info("judge %s: %d/%d answers", api["model"], done, total)
        return [complete(api, m, key) for _, m in chunk]

    replies = store.fill(zip(keys, messages), ask, chunk=1)
    rows = []
    for (_, ans), reply, m in zip(answered.iterrows(), replies, messages):
        rows.append({**ans.to_dict(), "judge_reply": reply["reply"],
                     "judge_score": parse_score(reply["reply"], scale_max), "judge_backend": "openai",
                     "judge_prompt_hash": stable_hash(m), "judge_model": api["model"],
                     "judge_id": api["base_url"], "judge_revision": reply["model"]})
    unparsed = sum(math.isnan(r["judge_score"]) for r in rows)
    if unparsed:
        log.warning("judge %s: %d of %d replies hold no score in 0..%d (NaN, left out of the means)",
                    api["model"], unparsed, len(rows), scale_max)
    return pd.DataFrame(rows)


def run(judging: dict, inputs: dict, outputs: dict[str, str], cache: str) -> None:
    """The stage's job: the judge scores every model's answers (`inputs["scores"]`) into
    one table (`outputs["scores"]`; the study's models, checkpoints planned from their
    data included, are known only when the job runs); its provenance keeps each model's
    answers' provenance and adds the judge's. Backend `local`: the judge model
    (`inputs["manifest"]`), loaded once (and only if some answer is not in its score
    cache); backend `openai`: an OpenAI-compatible endpoint (no manifest), its replies
    cached per prompt. `outputs["prompts"]`: the prompts the judge saw, one row each,
    joined to the scores by `judge_prompt_hash`."""
    if backend(judging) == "openai":
        api = api_settings(judging)
        # what identifies the judge; the key (api.key_env's value) is never written
        judge_meta = {"judge_backend": "openai", "judge_id": api["base_url"], "judge_model": api["model"]}
        score_answers = lambda answered: api_judge_answers(judging, answered, cache)  # noqa: E731
        seen = lambda answers: api_prompts(judging, answers)  # noqa: E731
    else:
        manifest, judge_lm = load_judge(judging, inputs["manifest"])
        judge_meta = {"judge_backend": "local", "judge_id": manifest["id"], "judge_revision": manifest["revision"]}
        score_answers = lambda answered: judge_answers(judging, answered, judge_lm, manifest, cache)  # noqa: E731
        seen = lambda answers: local_prompts(judging, answers, judge_lm)  # noqa: E731
    answer_paths = [inputs["scores"]] if isinstance(inputs["scores"], str) else list(inputs["scores"])
    tables, answers = [], {}
    for answers_path in answer_paths:
        answered = pd.read_parquet(answers_path)
        tables.append(score_answers(answered) if len(answered) else answered)
        provenance = read_provenance(answers_path)
        answers[provenance.get("model", answers_path)] = provenance
        log.info("judged %d answers of %s", len(answered), answers_path)
    scored = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    meta = {"answers": answers, "judging": judging, **judge_meta}
    write_table(scored, outputs["scores"], meta)
    if outputs.get("prompts"):  # what the judge read, joined to the scores by judge_prompt_hash
        prompts, settings = seen(scored["answer"] if "answer" in scored else [])
        write_table(prompts, outputs["prompts"], {**meta, "prompts": settings})
    log.info("%d judged answers of %d models -> %s", len(scored), len(answer_paths), outputs["scores"])
