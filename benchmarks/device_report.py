"""The device check's one markdown report (benchmarks/device_check.sh writes the inputs):
the machine, each stage's outcome (finished, failed, cut at its time limit, not run),
each GPU test's result, and the scoring and training benchmarks' rows.

  python benchmarks/device_report.py <out-dir> --mode gpu --time-limit 480

Inputs in <out-dir>: stages.tsv (one line per stage: name, exit status or "-", seconds,
budget, note), gpu-tests.xml (pytest's JUnit XML), and <stage>.json per benchmark stage
(the file benchmarks/scoring.py or training.py wrote; its stage's name starts with
"scoring" or "training").
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import torch

from common import commit, device_name

REPORT = "device-report.md"
TIMED_OUT = {"124", "137"}  # timeout(1): the stage ran past its budget (TERM, then KILL)

ACCOUNTING = """\
FLOPs are those the model computes (benchmarks/common.py), not those of a layout it
does not run: 2 per parameter per token computed in a forward pass, the LM head counted
only at the positions it projects, embedding lookups and attention's score/value
products left out. Scoring: the packed layout computes each prompt once and every
continuation, and projects only the positions that predict a continuation token; the
full-sequence methods compute and project every token of every prompt + continuation
(their "useful" column divides the packed layout's FLOPs by their time instead).
Training with LoRA: 4 per frozen parameter and 6 per adapter parameter per token
(the backward computes input gradients everywhere, weight gradients only for the
adapters), 4 per head parameter per projected position; a DPO step adds the
reference's forward (2 per parameter per token) unless its log-probs were precomputed.
With prompt sharing a pair's prompt is counted once and only answer positions are
projected; trl's layout counts both rows in full. Tokens/s: tokens of one pass.
Gradient checkpointing's recomputation is not counted (MFU, not hardware use). Peak:
the GPU's dense bf16 peak (989 TFLOP/s, H100 SXM) on CUDA; on CPU the best fp32 matmul
rate the script measured at the time."""


def read_stages(out: Path) -> list[dict]:
    stages = []
    path = out / "stages.tsv"
    for line in path.read_text().splitlines() if path.exists() else []:
        name, rc, seconds, budget, note = (line.split("\t") + [""] * 5)[:5]
        if rc == "-":
            result = f"not run: {note}"
        elif rc == "0":
            result = "finished"
        elif rc in TIMED_OUT:
            result = f"cut at its time limit ({budget} s)"
        else:
            result = f"failed (exit {rc})"
        stages.append({"name": name, "rc": rc, "seconds": float(seconds or 0), "budget": budget,
                       "result": result, "note": note})
    return stages


def read_tests(path: Path) -> list[dict]:
    """Each test case of pytest's JUnit XML: name, outcome, seconds, reason."""
    if not path.exists():
        return []
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, reason = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                reason = (found.get("message") or "").splitlines()[0] if found.get("message") else ""
                break
        tests.append({"name": case.get("name"), "outcome": outcome, "seconds": float(case.get("time") or 0),
                      "reason": reason})
    return tests


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[str]:
    cuda = torch.cuda.is_available()
    gpus = torch.cuda.device_count() if cuda else 0
    return [f"- device: {device_name()}" + (f" x {gpus}" if gpus > 1 else ""),
            f"- CUDA: {torch.version.cuda if cuda else 'not available'}; CPU threads: {os.cpu_count()} "
            f"(torch uses {torch.get_num_threads()})",
            "- " + ", ".join(f"{p} {_version(p)}" for p in ("torch", "transformers", "trl", "peft", "bitsandbytes",
                                                           "snakemake"))]


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def scoring_table(record: dict) -> list[str]:
    lines = [f"{record['model']}, {record['dtype']}, peak {record['peak_tflops']:.3g} TFLOP/s",
             "", "| task | method | items/s | tokens/s | MFU | useful | peak memory (GB) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in record["results"]:
        lines.append(f"| {row['task']} | {row['method']} | {_fmt(row['items_per_s'])} | {_fmt(row['tokens_per_s'], 0)} "
                     f"| {row['mfu']:.1%} | {row['fraction_of_compute_limit']:.1%} | {row['peak_memory_gb']:.2f} |")
    return lines


def training_table(record: dict) -> list[str]:
    lines = [f"{record['model']}, quantization {record.get('quantization', 'none')}, "
             f"peak {record['peak_tflops']:.3g} TFLOP/s", "",
             "| step | seconds | tokens (one pass) | tokens/s | MFU | peak memory (GB) |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in record["results"]:
        lines.append(f"| {row['step']} | {row['seconds']:.3f} | {row['tokens']:,} | {_fmt(row['tokens_per_s'], 0)} "
                     f"| {row['mfu']:.1%} | {row['peak_memory_gb']:.2f} |")
    return lines


def write_report(out: Path, mode: str, time_limit: float) -> Path:
    stages, tests = read_stages(out), read_tests(out / "gpu-tests.xml")
    used = sum(s["seconds"] for s in stages)
    lines = [f"# Device check: {device_name()}", "",
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit()}, mode {mode}, "
             f"time limit {time_limit:.0f} s, stages took {used:.0f} s.", "", "## Machine", "", *machine(), "",
             "## Stages", "", "| stage | result | seconds | budget (s) |", "|---|---|---:|---:|"]
    lines += [f"| {s['name']} | {s['result']} | {s['seconds']:.0f} | {s['budget']} |" for s in stages]
    counts = {o: sum(t["outcome"] == o for t in tests) for o in ("passed", "failed", "error", "skipped")}
    lines += ["", "## GPU tests", "", "`pytest -m gpu -rs tests/test_gpu.py`: " +
              (", ".join(f"{n} {o}" for o, n in counts.items() if n) or "no results (see Stages)"), ""]
    if tests:
        lines += ["| test | result | seconds | reason |", "|---|---|---:|---|"]
        lines += [f"| {t['name']} | {t['outcome']} | {t['seconds']:.1f} | {t['reason'].replace('|', '/')} |"
                  for t in tests]
    for kind, table in (("scoring", scoring_table), ("training", training_table)):
        lines += ["", f"## {kind.capitalize()} (benchmarks/{kind}.py)"]
        for stage in (s for s in stages if s["name"].startswith(kind)):
            lines += ["", f"### {stage['name']}", ""]
            record = out / f"{stage['name'].replace(' ', '-')}.json"
            if not record.exists():
                lines.append(f"No results: {stage['result']}.")
                continue
            if stage["rc"] != "0":  # the script writes its record after every row
                lines += [f"Stage {stage['result']}: the rows it measured before it stopped.", ""]
            lines += table(json.loads(record.read_text()))
    lines += ["", "## How the numbers are counted", "", ACCOUNTING, ""]
    path = out / REPORT
    path.write_text("\n".join(lines))
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--mode", choices=["gpu", "cpu"], required=True)
    ap.add_argument("--time-limit", type=float, required=True)
    args = ap.parse_args()
    print(write_report(args.out, args.mode, args.time_limit))


if __name__ == "__main__":
    main()
