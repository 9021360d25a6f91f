"""Shared by the benchmark scripts: FLOP accounting, the machine's peak, timing."""

from __future__ import annotations

import platform
import subprocess
import time

import torch


def n_params(model) -> int:
    """Parameters a token passes through (embedding lookups are not FLOPs)."""
    emb = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - emb + (emb if model.config.tie_word_embeddings else 0)


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


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return platform.processor() or platform.machine()
