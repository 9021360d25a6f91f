"""GPU placement: concurrent GPU jobs each get their own device(s), simulated on a CPU
machine (ALIGNSHIFT_GPU_COUNT); a model with `device_map: auto` is spread by accelerate."""

import multiprocessing as mp
import os

import pytest

from alignshift import devices
from alignshift.models.spec import ModelSpec
from conftest import REPO, write_config


def _job(env: dict, gpus: int | None, queue, barrier) -> None:
    """One GPU job: resolve its device the way every model load does, report what it got,
    then hold it until every job has reported (so all hold theirs at once)."""
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    os.environ.pop("SLURM_JOB_ID", None)
    os.environ.update(env)
    if gpus is not None:
        os.environ["ALIGNSHIFT_JOB_GPUS"] = str(gpus)
    from alignshift.models.load import resolve_device

    device = resolve_device()
    queue.put((device, os.environ.get("CUDA_VISIBLE_DEVICES")))
    barrier.wait(timeout=120)


def run_jobs(env: dict, gpus: list[int | None]) -> list[tuple[str, str | None]]:
    ctx = mp.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(len(gpus))
    procs = [ctx.Process(target=_job, args=(env, n, queue, barrier)) for n in gpus]
    for p in procs:
        p.start()
    got = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return got


def test_concurrent_gpu_jobs_get_different_devices(tmp_path):
    env = {"ALIGNSHIFT_GPU_COUNT": "4", "ALIGNSHIFT_GPU_LOCKS": str(tmp_path / "locks")}
    got = run_jobs(env, [1, 1, 1, 1])
    assert all(device == "cpu" for device, _ in got)  # no real CUDA here
    assert sorted(visible for _, visible in got) == ["0", "1", "2", "3"]
    # the jobs have ended: their devices are free again
    again = run_jobs(env, [1])
    assert again[0][1] == "0"


def test_multi_gpu_jobs_get_disjoint_sets(tmp_path):
    env = {"ALIGNSHIFT_GPU_COUNT": "4", "ALIGNSHIFT_GPU_LOCKS": str(tmp_path / "locks")}
    got = [set(visible.split(",")) for _, visible in run_jobs(env, [2, 2])]
    assert all(len(s) == 2 for s in got) and got[0].isdisjoint(got[1]) and got[0] | got[1] == {"0", "1", "2", "3"}


def test_claims_only_among_the_cards_the_user_made_visible(tmp_path):
    env = {"ALIGNSHIFT_GPU_COUNT": "8", "ALIGNSHIFT_GPU_LOCKS": str(tmp_path / "locks"), "CUDA_VISIBLE_DEVICES": "5,2"}
    got = run_jobs(env, [1, 1])
    assert sorted(visible for _, visible in got) == ["2", "5"]


def test_a_slurm_allocation_is_kept(tmp_path):
    env = {"ALIGNSHIFT_GPU_COUNT": "4", "ALIGNSHIFT_GPU_LOCKS": str(tmp_path / "locks"),
           "SLURM_JOB_ID": "17", "CUDA_VISIBLE_DEVICES": "3"}
    got = run_jobs(env, [1])
    assert got[0][1] == "3" and not (tmp_path / "locks").exists()


def test_cpu_job_claims_nothing_and_too_many_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNSHIFT_GPU_LOCKS", str(tmp_path / "locks"))
    monkeypatch.setenv("ALIGNSHIFT_GPU_COUNT", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setattr(devices, "_CLAIMED", None)
    assert devices.claim(0) == [] and "CUDA_VISIBLE_DEVICES" not in os.environ
    monkeypatch.setattr(devices, "_CLAIMED", None)
    with pytest.raises(RuntimeError, match="asks for 3 GPUs, but only 2 are visible"):
        devices.claim(3)
    monkeypatch.setattr(devices, "_CLAIMED", None)


def test_device_map_auto_spreads_the_model_over_the_jobs_gpus(tiny_model_dir, tmp_path, monkeypatch):
    """On CUDA, `device_map: auto` hands the placement to accelerate (over every visible
    GPU) instead of moving the whole model to one device; checked by recording the call."""
    import transformers

    from alignshift.models import load as load_module
    from alignshift.models.fetch import fetch

    calls = []
    real = transformers.AutoModelForCausalLM.from_pretrained

    class Recorded:
        def __init__(self, model):
            self.model, self.moved = model, []

        def to(self, device):
            self.moved.append(device)
            return self

        def eval(self):
            return self

    def from_pretrained(path, **kwargs):
        calls.append(kwargs)
        return Recorded(real(path, dtype=kwargs["dtype"]))

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    for device_map in ("auto", None):
        spec = ModelSpec(name="tiny", id=str(tiny_model_dir), dtype="float32", device_map=device_map)
        manifest = fetch(spec, tmp_path / f"fetched-{device_map}")
        model = load_module._load_weights(manifest, spec, None, "cuda", load_module.torch_dtype("float32", "cuda"))
        if device_map == "auto":
            assert calls[-1]["device_map"] == "auto" and model.moved == []
        else:
            assert "device_map" not in calls[-1] and model.moved == ["cuda"]
    # on a CPU machine the setting changes nothing
    spec = ModelSpec(name="tiny", id=str(tiny_model_dir), dtype="float32", device_map="auto")
    load_module._load_weights(fetch(spec, tmp_path / "cpu"), spec, None, "cpu", load_module.torch_dtype("float32", "cpu"))
    assert "device_map" not in calls[-1]


def test_checkpoints_inherit_device_map():
    from alignshift import registry

    cfg = {"models": {"big": {"id": "org/big", "device_map": "auto"}},
           "finetune": {"left": {"base": "big", "data": "d", "recipe": "config/recipes/dpo-lora.yaml", "direction": "left",
                                 "checkpoints": [10]}}}
    reg = registry.build(cfg, REPO)
    assert {s.device_map for s in reg.values()} == {"auto"} and len(reg) > 1


@pytest.mark.slow
def test_gpu_jobs_of_a_dag_claim_a_free_device(tiny_model_dir, tmp_path, monkeypatch):
    """Through snakemake: with device 0 of two (simulated) taken by another process, the
    evaluation job claims device 1 and records it; the rule's `gpu` resource is the count."""
    import subprocess
    import sys

    from alignshift.provenance import read_provenance
    from test_workflow import study_config

    locks = tmp_path / "locks"
    monkeypatch.setenv("ALIGNSHIFT_GPU_LOCKS", str(locks))
    held = devices._try_lock("0")  # another workflow's job on card 0
    assert held is not None
    try:
        cfg = study_config(tiny_model_dir)
        cfg.update(finetune={}, probes={"ideology": {}}, figures=[])
        write_config(tmp_path, cfg)
        env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
        env.update(ALIGNSHIFT_GPU_COUNT="2", PYTHONPATH=str(REPO / "src"))
        result = subprocess.run([sys.executable, "-m", "snakemake", "results/metrics/ideology.csv",
                                 "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                                 "--cores", "2", "--resources", "gpu=2",
                                 "--configfile", str(tmp_path / "config.yaml")],
                                env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-4000:]
    finally:
        os.close(held)
    meta = read_provenance(tmp_path / "results" / "scores" / "tiny" / "ideology.parquet")
    assert meta["cuda_visible_devices"] == "1" and meta["device"] == "cpu"
    log = (tmp_path / "results" / "logs" / "evaluate" / "tiny.log").read_text()
    assert "GPU(s) 1 claimed" in log
