"""Faults a real run meets, through `snakemake` in subprocesses on a small study (a tiny
model, one DPO run of 10 steps keeping steps 2, 5 and 10, the ideology probe): kill -9 in
training and in evaluation, a checkpoint that lost a file, a full disk, two runs at once.
Each faulted run must end with the results of an uninterrupted one (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import REPO, repo_files, run_snakemake, snakemake_command, write_config

pytestmark = pytest.mark.slow

RUN = "dpo_left"
STEPS = (2, 5, 10)
MODELS = ("tiny", *(f"{RUN}/step-{s}" for s in STEPS))


def fault_config(model_dir: Path) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    run = cfg["finetune"][RUN]
    run.update(base="tiny", recipe=str(REPO / run["recipe"]), save_steps=list(STEPS[:-1]),
               overrides={"training": {"max_steps": STEPS[-1], "per_device_train_batch_size": 2}})
    cfg["models"] = {"tiny": {"id": str(model_dir), "stage": "pt", "chat_template": True, "dtype": "float32"}}
    cfg["finetune"] = {RUN: run}
    cfg["datasets"] = repo_files({name: cfg["datasets"][name] for name in ("questionnaire", run["data"])})
    cfg["probes"], cfg["figures"] = {"ideology": {}}, ["ideology_trajectory"]
    return cfg


def study_dir(root: Path, model_dir: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_config(root, fault_config(model_dir))
    return root


def start(workdir: Path, *args: str) -> subprocess.Popen:
    """A run in the background, in a process group of its own (snakemake and its jobs)."""
    command, env = snakemake_command(workdir, "--cores", "2", *args)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 900) -> None:
    deadline = time.time() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {process.stdout.read()[-3000:]}")
        assert time.time() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


def kill_9(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def recover(workdir: Path) -> subprocess.CompletedProcess:
    """What Snakemake tells a user to do after a kill: --unlock, then --rerun-incomplete."""
    unlocked = run_snakemake(workdir, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-2000:]
    return run_snakemake(workdir, "--cores", "2", "--rerun-incomplete")


def state_dir(workdir: Path) -> Path | None:
    found = list((workdir / "results" / "finetune" / RUN).glob("state-*"))
    return found[0] if found else None


def scores(workdir: Path, model: str) -> pd.DataFrame:
    table = pd.read_parquet(workdir / "results" / "scores" / model / "ideology.parquet")
    return table.sort_values(["prompt_hash", "continuation"] if "continuation" in table else ["prompt_hash"]) \
        .reset_index(drop=True)


def assert_same_results(faulted: Path, reference: Path) -> None:
    """Every checkpoint's adapter and every model's scores as the uninterrupted run's."""
    for step in STEPS:
        a = load_file(str(reference / "results" / "finetune" / RUN / "adapters" / f"step-{step}" / "adapter_model.safetensors"))
        b = load_file(str(faulted / "results" / "finetune" / RUN / "adapters" / f"step-{step}" / "adapter_model.safetensors"))
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=0)
    for model in MODELS:
        a, b = scores(reference, model), scores(faulted, model)
        numeric = [c for c in a.columns if pd.api.types.is_float_dtype(a[c])]
        assert numeric and len(a) == len(b) and (a["prompt_hash"] == b["prompt_hash"]).all(), model
        pd.testing.assert_frame_equal(b[numeric], a[numeric], check_exact=False, atol=1e-4, rtol=0)
    metrics = pd.read_csv(faulted / "results" / "metrics" / "ideology.csv")
    assert set(metrics["model"]) == set(MODELS)


def cache_records(workdir: Path, model: str) -> list[str]:
    """The keys of a model's score cache, one per complete line (a torn line is skipped)."""
    path = workdir / "results" / "cache" / "scores" / model / "ideology.jsonl"
    keys = []
    for line in path.read_text().split("\n"):
        try:
            keys.append(json.loads(line)["key"])
        except json.JSONDecodeError:
            continue
    return keys


@pytest.fixture(scope="module")
def reference(tiny_model_dir, tmp_path_factory):
    """The uninterrupted run, with a second `snakemake` started in the same directory
    while it works: refused (Snakemake's directory lock), the first unharmed."""
    workdir = study_dir(tmp_path_factory.mktemp("faults") / "reference", tiny_model_dir)
    first = start(workdir)
    wait_for(lambda: any((workdir / ".snakemake" / "locks").glob("*")), first, "a lock")
    # refused: by the lock, or (Snakemake checks it first) by the outputs the first is writing;
    # with --rerun-incomplete, by the lock
    for args in ((), ("--rerun-incomplete",)):
        second = run_snakemake(workdir, "--cores", "2", *args)
        said = second.stdout + second.stderr
        assert second.returncode != 0 and ("cannot be locked" in said or "Incomplete files" in said), said[-2000:]
    assert "cannot be locked" in said, said[-2000:]
    output = first.communicate()[0]
    assert first.returncode == 0, output[-4000:]
    return workdir


def test_two_runs_at_once_leave_the_first_whole(reference):
    for model in MODELS:
        assert len(scores(reference, model)) > 0
    assert_figures = reference / "results" / "figures" / "ideology_trajectory.png"
    assert assert_figures.exists()


def test_kill_9_in_training_and_a_checkpoint_missing_its_optimizer_end_as_an_uninterrupted_run(
        reference, tiny_model_dir, tmp_path):
    workdir = study_dir(tmp_path, tiny_model_dir)
    run = start(workdir)
    sealed = lambda: (s := state_dir(workdir)) is not None and (s / "checkpoint-5" / "complete.json").exists()  # noqa: E731
    wait_for(sealed, run, "checkpoint 5")
    kill_9(run)
    record = workdir / "results" / "finetune" / RUN / "train_log.json"
    assert not record.exists(), "training ended before the kill"
    # and the newest checkpoint loses its optimizer state (a partial copy, a cleanup)
    state = state_dir(workdir)
    (state / "checkpoint-5" / "optimizer.pt").unlink()
    rerun = recover(workdir)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    trained = json.loads(record.read_text())
    assert trained["resumed_from"].endswith("checkpoint-2")
    assert trained["set_aside"][0].startswith("checkpoint-5 cannot be resumed exactly (optimizer.pt missing)")
    assert "set aside to" in (workdir / "results" / "logs" / "finetune" / f"{RUN}.log").read_text()
    assert_same_results(workdir, reference)


def test_kill_9_in_evaluation_keeps_what_was_stored(reference, tiny_model_dir, tmp_path):
    workdir = study_dir(tmp_path, tiny_model_dir)
    run = start(workdir)
    cache = workdir / "results" / "cache" / "scores"
    stored = lambda: any(p.stat().st_size > 0 for p in cache.rglob("ideology.jsonl")) if cache.exists() else False  # noqa: E731
    wait_for(stored, run, "a stored score")
    kill_9(run)
    kept = {model: cache_records(workdir, model) for model in MODELS
            if (cache / model / "ideology.jsonl").exists()}
    assert kept and len(kept) < len(MODELS), "every evaluation ended before the kill"
    rerun = recover(workdir)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for model, keys in kept.items():
        # what the killed run stored was used, not scored again: each prompt once in the cache
        after = cache_records(workdir, model)
        assert after[: len(keys)] == keys and len(after) == len(set(after)), model
    assert_same_results(workdir, reference)


@pytest.fixture
def small_disk(tmp_path):
    """results/cache/ on a 16 kB file system (tmpfs), grown once the test lets it."""
    mount = tmp_path / "results" / "cache"
    mount.mkdir(parents=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"this machine cannot mount a size-limited tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_in_evaluation_then_room_again_ends_as_an_uninterrupted_run(reference, tiny_model_dir,
                                                                               tmp_path, small_disk):
    workdir = study_dir(tmp_path, tiny_model_dir)
    full = run_snakemake(workdir, "--cores", "2")
    assert full.returncode != 0
    logs = "".join(p.read_text() for p in (workdir / "results" / "logs" / "evaluate").rglob("*.log"))
    assert "No space left on device" in logs, logs[-3000:]
    torn = [p for p in small_disk.rglob("*.jsonl") if p.stat().st_size and not p.read_bytes().endswith(b"\n")]
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    rerun = run_snakemake(workdir, "--cores", "2", "--rerun-incomplete")
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for path in torn:  # the record after a torn line starts a line of its own: nothing lost with it
        model = str(path.parent.relative_to(small_disk / "scores"))
        keys = cache_records(workdir, model)
        assert len(keys) == len(set(keys)) == scores(workdir, model)["prompt_hash"].nunique(), model
    assert_same_results(workdir, reference)
