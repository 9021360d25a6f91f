"""The CUDA paths, run where a GPU is (`pytest -m gpu -rs`; benchmarks/device_check.sh runs
them on a lent machine): prompt sharing in bf16, QLoRA training, the scorer in bf16,
`device_map: auto`, batched generation, the evaluate job, and the device-claim locks.
Each skips with its reason elsewhere, before any fixture is built."""

import importlib.util
import json
import math
import subprocess

import numpy as np
import pytest
import torch

from alignshift import finetune
from alignshift.generation import generate
from alignshift.models.fetch import fetch
from alignshift.models.load import load
from alignshift.models.spec import ModelSpec
from alignshift.scoring import score
from reference_scoring import score_brute_force
from conftest import REPO, snakemake_command, write_config
from test_devices import run_jobs
from test_finetune import RECIPE, adapter, check_prompt_sharing, run, setup  # noqa: F401 (setup: a fixture)
from test_generation import prompts
from test_scoring import requests

CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs CUDA: torch.cuda.is_available() is false")]
needs_bitsandbytes = pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                                        reason="needs bitsandbytes (QLoRA): not installed")
needs_two_cards = pytest.mark.skipif(not CUDA or torch.cuda.device_count() < 2,
                                     reason=f"needs 2 GPUs: {torch.cuda.device_count() if CUDA else 0} visible")


def on_cuda(model_dir, tmp_path, dtype: str, **spec_fields):
    """The model at `model_dir` fetched and loaded onto CUDA the way a job loads it."""
    spec = ModelSpec(name="tiny", id=str(model_dir), chat_template=True, dtype=dtype, **spec_fields)
    return load(fetch(spec, tmp_path / f"fetched-{dtype}-{spec.device_map}", tmp_path / "hub"), spec, device="cuda")


@pytest.fixture(scope="module")
def bf16_setup(setup):
    """test_finetune's tiny model and rows, the model in bf16 (on CUDA: trl's bf16 training)."""
    spec, manifest, stances = setup
    return ModelSpec.from_dict({**spec.to_dict(), "dtype": "bfloat16"}), manifest, stances


@pytest.fixture(scope="module")
def real_shaped(setup, tmp_path_factory):
    """Llama-3-8B's layers (hidden 4096, MLP 14336, 8 KV heads) with random weights, two of
    them instead of 32 and the tiny tokenizer's 1,024-token vocabulary: the matmul shapes
    QLoRA quantizes and trains, in under 1 GB of bf16."""
    from alignshift.stand_ins import corpus, random_model, train_tokenizer

    shape = json.loads((REPO / "benchmarks/shapes/llama-3-8b.json").read_text())
    shape.pop("vocab_size")
    shape["num_hidden_layers"] = 2
    out = tmp_path_factory.mktemp("llama-3-8b-2-layers")
    random_model(shape, train_tokenizer(corpus(REPO / "data")), out, dtype=torch.bfloat16)
    spec = ModelSpec(name="llama-3-8b-2-layers", id=str(out), chat_template=True, dtype="bfloat16")
    return spec, fetch(spec, tmp_path_factory.mktemp("fetched"), tmp_path_factory.mktemp("hub")), setup[2]


def test_prompt_sharing_equals_trls_forward_in_bf16(bf16_setup, tmp_path, monkeypatch):
    def grads_close(shared, plain):
        # bf16 rounds each forward differently: the whole gradient points the same way, same size
        a = torch.cat([g.float().flatten() for g in shared.values()])
        b = torch.cat([plain[n].float().flatten() for n in shared])
        assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.99
        assert abs(a.norm() / b.norm() - 1) < 0.05

    check_prompt_sharing(bf16_setup, tmp_path, monkeypatch, per_token=dict(atol=0.1, rtol=0.02), loss_tol=0.02,
                         grads_close=grads_close)


@needs_bitsandbytes
@pytest.mark.parametrize("method", ["dpo", "sft"])
def test_one_qlora_step_on_a_real_shaped_model(real_shaped, tmp_path, monkeypatch, method):
    import bitsandbytes as bnb

    from alignshift import prompt_sharing

    built, shared = [], []
    build, share = finetune.build_trainer, prompt_sharing.shared_prompt_forward
    monkeypatch.setattr(finetune, "build_trainer", lambda **kw: built.append(build(**kw)) or built[-1])
    monkeypatch.setattr(prompt_sharing, "shared_prompt_forward", lambda *a: shared.append(share(*a)) or shared[-1])
    dpo_only = ("beta", "loss_type")
    training = {k: v for k, v in RECIPE["training"].items() if method == "dpo" or k not in dpo_only}
    recipe = {**RECIPE, "method": method, "quantization": "4bit", "training": {**training, "max_steps": 1}}
    run(real_shaped, tmp_path, steps=(1,), recipe=recipe)
    [trainer] = built
    assert sum(isinstance(m, bnb.nn.Linear4bit) for m in trainer.model.modules()) >= 14  # 7 per layer
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 1 and math.isfinite(losses[0])
    if method == "dpo":  # the 4-bit base computed each pair's prompt once (policy and reference)
        assert len(shared) == 2 and all(out is not None for out in shared)
    weights = adapter(tmp_path / "adapters" / "step-1")
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert any(weights[n].abs().max() > 0 for n in weights if "lora_B" in n)  # the step moved the adapter


def test_scorer_in_bf16_agrees_with_fp32_on_the_same_items(tiny_model_dir, tmp_path):
    fp32, bf16 = on_cuda(tiny_model_dir, tmp_path, "float32"), on_cuda(tiny_model_dir, tmp_path, "bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    exact = score(fp32.model, fp32.tokenizer, requests())
    # the packed layout's mask on CUDA's attention kernels: one forward per option, fp32
    for packed, brute in zip(exact, score_brute_force(fp32.model, fp32.tokenizer, requests())):
        np.testing.assert_allclose(packed.logprob_sum, brute.logprob_sum, atol=1e-4)
    for half, full in zip(score(bf16.model, bf16.tokenizer, requests()), exact):
        np.testing.assert_array_equal(half.n_tokens, full.n_tokens)
        np.testing.assert_allclose(half.logprob_sum, full.logprob_sum, atol=0.05 * full.n_tokens.max(), rtol=0.02)


@needs_two_cards
def test_device_map_auto_spreads_a_model_over_the_visible_cards(tmp_path):
    from alignshift.stand_ins import TINY_LLAMA, tiny_model

    deep = tiny_model(tmp_path / "deep", REPO / "data", config={
        **TINY_LLAMA, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 12,
        "tie_word_embeddings": False})
    spread = on_cuda(deep, tmp_path, "float32", device_map="auto")
    assert len(set(spread.model.hf_device_map.values())) >= 2, spread.model.hf_device_map
    whole = on_cuda(deep, tmp_path, "float32")
    for a, b in zip(score(spread.model, spread.tokenizer, requests()), score(whole.model, whole.tokenizer, requests())):
        np.testing.assert_allclose(a.logprob_sum, b.logprob_sum, atol=1e-4)
    assert generate(spread.model, spread.tokenizer, prompts(spread), max_new_tokens=8) == \
        generate(whole.model, whole.tokenizer, prompts(whole), max_new_tokens=8)


def test_batched_generation_on_the_gpu_equals_one_at_a_time(tiny_model_dir, tmp_path):
    lm = on_cuda(tiny_model_dir, tmp_path, "float32")
    assert lm.model.device.type == "cuda"
    batched = generate(lm.model, lm.tokenizer, prompts(lm), max_new_tokens=8, batch_size=3)
    assert batched == [generate(lm.model, lm.tokenizer, [p], max_new_tokens=8)[0] for p in prompts(lm)]


def real_cards(env: dict, tmp_path) -> dict:
    """`env` claiming among the machine's real cards: no simulated count, no inherited
    card choice, locks of the test's own."""
    env = {k: v for k, v in env.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return {**env, "ALIGNSHIFT_GPU_COUNT": "", "ALIGNSHIFT_GPU_LOCKS": str(tmp_path / "locks")}


def test_the_evaluate_job_runs_on_the_gpu(tiny_model_dir, tmp_path):
    from alignshift.provenance import read_provenance
    from conftest import read_metrics
    from test_workflow import study_config

    cfg = study_config(tiny_model_dir)
    cfg["models"]["tiny"]["dtype"] = "bfloat16"
    cfg.update(finetune={}, probes={"ideology": {}}, figures=[])
    write_config(tmp_path, cfg)
    command, env = snakemake_command(tmp_path, "results/metrics/ideology.csv", "--cores", "2", "--resources", "gpu=1")
    result = subprocess.run(command, env=real_cards(env, tmp_path), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    meta = read_provenance(tmp_path / "results" / "scores" / "tiny" / "ideology.parquet")
    assert meta["device"].startswith("cuda") and meta["cuda_visible_devices"] not in (None, "")
    assert "claimed for this job" in (tmp_path / "results" / "logs" / "evaluate" / "tiny.log").read_text()
    assert len(read_metrics(tmp_path, "ideology")) > 0


@needs_two_cards
def test_two_concurrent_jobs_claim_two_different_cards(tmp_path):
    got = run_jobs(real_cards({}, tmp_path), [1, 1])  # each job drops CUDA_VISIBLE_DEVICES itself
    assert all(device == "cuda" for device, _ in got)
    cards = [visible for _, visible in got]
    assert len(set(cards)) == 2 and all("," not in c for c in cards), cards
