"""Shared by the benchmark scripts: FLOP accounting, the machine's peak, timing."""

from __future__ import annotations

import json
import math
import platform
import resource
import subprocess
import time
from pathlib import Path

import torch


def _numel(p) -> int:
    """Elements of a parameter as the model computes with it (a 4-bit bitsandbytes weight
    stores two per byte; its quant_state keeps the real shape)."""
    state = getattr(p, "quant_state", None)
    return math.prod(state.shape) if state is not None else p.numel()


def param_counts(model) -> dict[str, int]:
    """The parameters one token multiplies by, in the parts FLOPs are counted by:
    `frozen` (every layer's frozen weights; embedding lookups are no FLOPs), `trainable`
    (LoRA adapters: their weight gradients are computed too), `head` (the LM head, which
    runs only at the positions it projects)."""
    head = model.get_output_embeddings().weight
    skip = {id(model.get_input_embeddings().weight), id(head)}
    counts = {"frozen": 0, "trainable": 0, "head": _numel(head)}
    for p in model.parameters():
        if id(p) not in skip:
            counts["trainable" if p.requires_grad else "frozen"] += _numel(p)
    return counts


def forward_flops(counts: dict[str, int], tokens: int, projected: int) -> float:
    """A forward pass over `tokens` computed positions, `projected` of them through the
    head: 2 FLOPs per parameter per token (a multiply and an add), attention's own
    score/value products left out (under 5% of a 7B model's at 512 tokens)."""
    return 2 * (counts["frozen"] + counts["trainable"]) * tokens + 2 * counts["head"] * projected


def training_flops(counts: dict[str, int], tokens: int, projected: int) -> float:
    """Forward + backward of a LoRA model: the backward computes every layer's input
    gradient (2 per parameter per token, as the forward) but weight gradients only for
    the trainable adapters (another 2): 4 x frozen + 6 x trainable per token, 4 x head per
    projected position. Recomputation under gradient checkpointing is not counted (MFU,
    not hardware utilisation)."""
    return (4 * counts["frozen"] + 6 * counts["trainable"]) * tokens + 4 * counts["head"] * projected


def peak_memory_gb() -> float:
    """Peak GPU memory allocated by torch, or this process's peak resident memory on CPU."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def peak_flops(device: str, override_tflops: float | None) -> float:
    if override_tflops:
        return override_tflops * 1e12
    if device == "cuda":
        return 989e12  # H100 SXM dense bf16
    n = 2048  # measured: the best this CPU does on a large fp32 matmul
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * n**3 / (time.perf_counter() - t)


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def write_json(path: str | Path, report: dict) -> None:
    """The record so far: written after every row, so a run cut at a time limit (the device
    check) leaves the rows it measured."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2))


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
              if line.startswith("model name")]
    return models[0] if models else platform.processor() or platform.machine()
