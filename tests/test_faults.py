"""Faults: a killed evaluation redoes only what it had not finished, and scoring that
runs out of memory retries with smaller batches."""

import numpy as np
import pandas as pd
import pytest
import torch

from alignshift import probes, scoring
from alignshift.probes import score_cache
from conftest import REPO


def questionnaire():
    from alignshift import data

    return {"questionnaire": data.prepare({"loader": "questionnaire", "path": str(REPO / "data/ideology/questionnaire.csv")})}


def test_killed_evaluation_rescores_only_the_missing_prompts(tiny_lm, tmp_path, monkeypatch):
    spec = probes.resolve_spec("ideology", {})
    cache = tmp_path / "ideology.jsonl"
    complete = probes.run("ideology", spec, questionnaire(), tiny_lm, progress=False)
    n_prompts = complete["prompt_hash"].nunique()  # 40 statements x 2 listing orders

    scored = []
    original = scoring.score

    def dies_after_two_chunks(model, tok, requests, **kwargs):
        if len(scored) == 2:
            raise KeyboardInterrupt("killed")
        scored.append(len(requests))
        return original(model, tok, requests, **kwargs)

    monkeypatch.setattr(score_cache, "score", dies_after_two_chunks)
    with pytest.raises(KeyboardInterrupt):
        probes.run("ideology", spec, questionnaire(), tiny_lm, cache=cache, chunk_prompts=16, progress=False)
    assert scored == [16, 16]
    # the torn write of a kill is skipped on reading
    with open(cache, "a") as fh:
        fh.write('{"key": "abc", "val')

    scored.clear()
    monkeypatch.setattr(score_cache, "score", lambda *a, **k: scored.append(len(a[2])) or original(*a, **k))
    resumed = probes.run("ideology", spec, questionnaire(), tiny_lm, cache=cache, chunk_prompts=16, progress=False)
    assert sum(scored) == n_prompts - 32  # only the prompts the killed run had not finished
    pd.testing.assert_frame_equal(resumed, complete, check_exact=False, atol=1e-9)

    scored.clear()
    probes.run("ideology", {**spec, "prompt": spec["prompt"] + " "}, questionnaire(), tiny_lm, cache=cache,
               chunk_prompts=16, progress=False)
    assert sum(scored) == n_prompts  # a changed probe setting never reuses a stale score


def test_out_of_memory_halves_the_batch_and_gives_the_same_scores(tiny_lm, monkeypatch):
    requests = [scoring.ScoreRequest(scoring.Prompt(f"Question {i}: which country?"), (" France", " Japan", " Brazil"))
                for i in range(12)]
    expected = scoring.score(tiny_lm.model, tiny_lm.tokenizer, requests, max_row_tokens=32, max_batch_tokens=32 * 8)
    decoder = tiny_lm.model.get_decoder()
    batches = []
    original_forward = decoder.forward

    def small_memory(*args, **kwargs):
        rows = kwargs["input_ids"].shape[0]
        batches.append(rows)
        if rows > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original_forward(*args, **kwargs)

    monkeypatch.setattr(decoder, "forward", small_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    got = scoring.score(tiny_lm.model, tiny_lm.tokenizer, requests, max_row_tokens=32, max_batch_tokens=32 * 8)
    assert batches[0] > 2 and max(batches[batches.index(2):]) <= 2  # backed off, then stayed small
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g.logprob_sum, e.logprob_sum, atol=1e-5)


def _download_after(barrier, source, path, results):
    from alignshift.data.released import download

    barrier.wait()
    try:
        local, digest, _ = download(source, path)
        results.put(("ok", digest))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(("failed", repr(exc)))


def test_two_jobs_fetching_one_released_file_at_once_both_get_it(tmp_path):
    # two released_scores jobs (one per model) need TyDiQA's shared gold file at the same
    # moment: one partial file per process, each renamed into place whole
    import hashlib
    import multiprocessing

    source_dir = tmp_path / "repo"
    (source_dir / "data").mkdir(parents=True)
    payload = np.random.default_rng(0).bytes(64 << 20)
    (source_dir / "data" / "gold.json").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    source = {"repo": "fixture/repo", "commit": "c0ffee", "base": str(source_dir), "format": "unintended_impacts",
              "sha256": {"data/gold.json": digest}, "cache_dir": str(tmp_path / "cache")}
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    jobs = [context.Process(target=_download_after, args=(barrier, source, "data/gold.json", results)) for _ in range(2)]
    for job in jobs:
        job.start()
    outcomes = [results.get(timeout=120) for _ in jobs]
    for job in jobs:
        job.join()
    assert outcomes == [("ok", digest)] * 2
    cached = tmp_path / "cache" / "fixture+repo" / "c0ffee" / "data"
    assert sorted(p.name for p in cached.iterdir()) == ["gold.json"]  # no partial file left
