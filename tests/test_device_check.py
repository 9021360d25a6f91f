"""benchmarks/device_check.sh in its CPU mode: the script a lent GPU machine runs, proven
here on small shapes: one report with every stage's outcome, each GPU test's result and
the benchmarks' numbers; and a time limit that stops it cleanly with the report written."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO



def device_check(out, *args) -> tuple[str, dict[str, list[list[str]]]]:
    """Run the CPU mode into `out`: the report, and its tables' rows by the section they are in."""
    result = subprocess.run(["bash", str(REPO / "benchmarks/device_check.sh"), "--cpu", str(out), *args],
                            capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    report = (out / "device-report.md").read_text()
    tables, section = {}, None
    for line in report.splitlines():
        if line.startswith("#"):
            section = line.lstrip("# ")
        elif line.startswith("|") and not line.startswith("|---"):
            tables.setdefault(section, []).append([cell.strip() for cell in line.strip("|").split("|")])
    return report, {name: rows[1:] for name, rows in tables.items()}  # without the header rows


def percent(cell: str) -> float:
    assert re.fullmatch(r"\d+\.\d%", cell), cell
    return float(cell[:-1])


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.mark.slow
def test_the_cpu_mode_writes_one_report_of_every_stage(tmp_path):
    report, tables = device_check(tmp_path)
    for heading in ("## Machine", "## Stages", "## GPU tests", "## Scoring", "## Training",
                    "## How the numbers are counted"):
        assert heading in report
    stages = {name: result for name, result, *_ in tables["Stages"]}
    assert stages == {"gpu tests": "finished", "scoring": "finished", "training": "finished",
                      "training 4-bit": "not run: QLoRA needs CUDA and bitsandbytes"}
    # every GPU test collected and skipped here with its reason
    tests = tables["GPU tests"]
    assert len(tests) == 8 and all(result == "skipped" and reason.startswith("needs ")
                                   for _, result, _, reason in tests)
    assert "8 skipped" in report

    scoring = tables["scoring"]
    assert {(task, method.split(",")[0]) for task, method, *_ in scoring} == {
        (task, method) for task in ("country_rank", "mcqa")
        for method in ("packed prefix-sharing (alignshift)", "full sequences")}
    for _, _, items_s, tokens_s, mfu, useful, memory in scoring:
        assert number(items_s) > 0 and number(tokens_s) > 0 and number(memory) > 0
        assert 0 < percent(useful) <= percent(mfu) <= 100  # the packed layout's work is the least any method does

    training = {row[0]: row[1:] for row in tables["training"]}
    assert set(training) == {"sft: bare forward+backward+optimizer", "sft: alignshift trainer (trl + peft)",
                             "dpo: bare forward+backward+optimizer", "dpo: alignshift trainer (trl + peft)",
                             "dpo: alignshift trainer, prompt_sharing: false"}
    for seconds, tokens, tokens_s, mfu, memory in training.values():
        assert number(seconds) > 0 and number(tokens) > 0 and number(tokens_s) > 0 and number(memory) > 0
        assert 0 < percent(mfu) <= 100
    # prompt sharing computes each pair's prompt once: fewer tokens than trl's two rows
    shared, trl_layout = training["dpo: alignshift trainer (trl + peft)"][1], \
        training["dpo: alignshift trainer, prompt_sharing: false"][1]
    assert number(shared) < number(trl_layout) == number(training["dpo: bare forward+backward+optimizer"][1])
    assert "No results: not run: QLoRA needs CUDA and bitsandbytes." in report


@pytest.mark.slow
def test_a_time_limit_stops_the_check_with_its_report_written(tmp_path):
    # 15 s are kept for the report: the tests get what is left, the benchmarks nothing
    report, tables = device_check(tmp_path, "--time-limit", "30")
    stages = {name: result for name, result, *_ in tables["Stages"]}
    assert stages["gpu tests"] == "finished" or stages["gpu tests"].startswith("cut at its time limit")
    assert stages["scoring"] == stages["training"] == "not run: time limit reached"
    assert report.count("No results: not run: time limit reached.") == 2


def test_a_stage_cut_at_its_time_limit_reports_the_rows_it_measured(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from device_report import write_report

    (tmp_path / "stages.tsv").write_text("gpu tests\t1\t40\t150\t\ntraining bf16\t124\t130\t130\t\n"
                                         "training 4-bit\t-\t0\t4\ttime limit reached\n")
    row = {"step": "sft: bare forward+backward+optimizer", "seconds": 0.5, "tokens": 2048, "tokens_per_s": 4096.0,
           "mfu": 0.41, "peak_memory_gb": 15.2}
    (tmp_path / "training-bf16.json").write_text(json.dumps(
        {"model": "llama-2-7b", "quantization": "none", "peak_tflops": 989.0, "results": [row]}))
    report = write_report(tmp_path, "gpu", 450).read_text()
    assert "| gpu tests | failed (exit 1) | 40 | 150 |" in report
    assert "| training bf16 | cut at its time limit (130 s) | 130 | 130 |" in report
    assert "Stage cut at its time limit (130 s): the rows it measured before it stopped." in report
    assert "| sft: bare forward+backward+optimizer | 0.500 | 2,048 | 4,096 | 41.0% | 15.20 |" in report
    assert "No results: not run: time limit reached." in report
