"""Which GPU(s) a job runs on.

Snakemake's `gpu` resource only counts jobs: with `--resources gpu=4` four GPU jobs
start at once, and each would use `cuda:0`. So before a job touches CUDA it claims
its own device(s): it takes an exclusive `fcntl` lock on one file per device
(`<lock dir>/gpu-<id>.lock`, lock dir `ALIGNSHIFT_GPU_LOCKS`, by default
`<tmp>/alignshift-gpu-locks`, shared by every job and every workflow on the machine)
and sets `CUDA_VISIBLE_DEVICES` to the devices it got, so its `cuda:0` is its own card
and a model with `device_map: auto` spreads over exactly its cards. The locks are held
until the job's process ends (the kernel drops them even when a job is killed).

- How many: the rule's `gpu` resource (read from the Snakemake object of the running
  job script), else `ALIGNSHIFT_JOB_GPUS`, else 1.
- Among which: `CUDA_VISIBLE_DEVICES` when set (a user restricting a workstation run
  to some cards), else every GPU of the machine (`ALIGNSHIFT_GPU_COUNT` when set, which
  also simulates GPUs on a CPU machine for the tests; else the NVIDIA driver's count
  from /proc or `nvidia-smi -L`; never CUDA itself, which must not start before
  `CUDA_VISIBLE_DEVICES` is final).
- Under SLURM (`SLURM_JOB_ID` with `CUDA_VISIBLE_DEVICES` set) the allocation is the
  job's own already: it is kept as it is.
- When every candidate is taken (another workflow's jobs), the job waits for one.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

_HELD: list[int] = []  # open lock files of this process's devices (closing them releases)
_CLAIMED: list[str] | None = None


def lock_dir() -> Path:
    return Path(os.environ.get("ALIGNSHIFT_GPU_LOCKS") or Path(tempfile.gettempdir()) / "alignshift-gpu-locks")


def machine_gpu_count() -> int:
    """The machine's GPUs, without initialising CUDA."""
    simulated = os.environ.get("ALIGNSHIFT_GPU_COUNT")
    if simulated not in (None, ""):
        return int(simulated)
    proc = Path("/proc/driver/nvidia/gpus")
    if proc.is_dir():
        return sum(1 for _ in proc.iterdir())
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def candidates() -> list[str]:
    """The device ids this job may claim from."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    return [str(i) for i in range(machine_gpu_count())]


def job_gpus(default: int = 1) -> int:
    """GPUs the running job asked for: its rule's `gpu` resource, else ALIGNSHIFT_JOB_GPUS."""
    smk = getattr(sys.modules.get("__main__"), "snakemake", None)
    resources = getattr(smk, "resources", None)
    if resources is not None:
        try:
            return int(resources.get("gpu", 0) or 0)
        except (TypeError, ValueError):
            pass
    return int(os.environ.get("ALIGNSHIFT_JOB_GPUS", default))


def _try_lock(device: str) -> int | None:
    import fcntl

    directory = lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        directory.chmod(0o1777)  # jobs of other users on the same machine share it
    except OSError:
        pass
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in device)
    fd = os.open(directory / f"gpu-{safe}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim(n: int | None = None, *, wait_s: float | None = None, poll_s: float = 2.0) -> list[str]:
    """Claim `n` devices for this process and set CUDA_VISIBLE_DEVICES to them; return
    them ([] when the job needs none or the machine has none). Idempotent."""
    global _CLAIMED
    if _CLAIMED is not None:
        return _CLAIMED
    n = job_gpus() if n is None else n
    if os.environ.get("SLURM_JOB_ID") and os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        _CLAIMED = candidates()
        log.info("SLURM job %s: using its allocated GPU(s) %s", os.environ["SLURM_JOB_ID"], ",".join(_CLAIMED))
        return _CLAIMED
    pool = candidates()
    if n <= 0 or not pool:
        _CLAIMED = []
        return _CLAIMED
    if n > len(pool):
        raise RuntimeError(f"the job asks for {n} GPUs, but only {len(pool)} are visible ({','.join(pool)})")
    start, said = time.monotonic(), False
    while True:
        got: list[tuple[str, int]] = []
        for device in pool:
            fd = _try_lock(device)
            if fd is not None:
                got.append((device, fd))
                if len(got) == n:
                    break
        if len(got) == n:
            break
        for _, fd in got:  # all or nothing: never sit on a partial claim
            os.close(fd)
        if wait_s is not None and time.monotonic() - start > wait_s:
            raise TimeoutError(f"no {n} free GPU(s) among {','.join(pool)} after {wait_s:.0f} s")
        if not said:
            log.info("waiting for %d free GPU(s) among %s (locks in %s)", n, ",".join(pool), lock_dir())
            said = True
        time.sleep(poll_s)
    _HELD.extend(fd for _, fd in got)
    _CLAIMED = [device for device, _ in got]
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(_CLAIMED)
    log.info("GPU(s) %s claimed for this job (CUDA_VISIBLE_DEVICES)", os.environ["CUDA_VISIBLE_DEVICES"])
    return _CLAIMED


def release() -> None:
    """Give this process's devices back (also happens when the process ends)."""
    global _CLAIMED
    while _HELD:
        os.close(_HELD.pop())
    _CLAIMED = None
