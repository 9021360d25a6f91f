"""A slice of the default study's DAG through a real one-node SLURM cluster.

The session fixture starts munged, slurmctld and slurmd (Debian's slurm-wlm and munge)
on this machine with their own key, munge socket, ports, state and logs in a temporary
directory, runs `snakemake --profile profiles/slurm` on the tiny model, and stops the
daemons afterwards. slurm.conf itself has to be at the compiled-in default
/etc/slurm/slurm.conf: the jobstep executor runs each job through a nested `srun` with
every SLURM_* variable but the job's ids removed, SLURM_CONF included. The fixture
writes it there only when no slurm.conf exists (or one it wrote itself) and removes it
afterwards. The node advertises one GPU (gres backed by /dev/null) so that the GPU
rules' `--gpus=1` is scheduled as on a real cluster. The slice includes the judge probe
with an API judge (a stub OpenAI-compatible endpoint served by the test) so that a rule
that needs no GPU is seen submitted without one, and a model fetch, which runs on the
login node (a download rule: a local rule), never through sbatch.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from alignshift.provenance import read_provenance

from conftest import REPO, write_config
from test_workflow import planned_jobs, study_config

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
TARGETS = ["results/metrics/ideology.csv", "results/metrics/judge.csv"]
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("munge", "sbatch", "srun", "squeue", "scontrol", "sinfo")
ETC = Path("/etc/slurm")
MARK = "# written by alignshift tests/test_slurm.py; removed when the test ends\n"

pytestmark = pytest.mark.slow


def which(name: str) -> str | None:
    return shutil.which(name, path=SBIN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, step: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return False


def errors_in(*logs: Path) -> str:
    lines = []
    for log in logs:
        if log.exists():
            lines += [f"{log.name}: {line}" for line in log.read_text(errors="replace").splitlines()
                      if re.search(r"error|fatal", line, re.I) and "pmix" not in line.lower()
                      and "MailProg" not in line and "state file" not in line and "Trying backup" not in line]
    return "; ".join(lines[-5:]) or "no error in the daemons' logs"


SLURM_CONF = MARK + """\
ClusterName=alignshift-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# the profile asks for cluster-sized memory; the node's configured memory is believed
SlurmdParameters=config_overrides
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ReturnToService=2
# completed jobs stay in the controller (no accounting database: squeue and scontrol)
MinJobAge=3600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=256000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={node} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={node} MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="session")
def slurm_cluster():
    """Environment (PATH with the daemons) and state directory of a running one-node SLURM cluster."""
    if os.geteuid() != 0:
        pytest.skip(f"the SLURM test starts munged, slurmctld and slurmd itself and needs root (uid {os.geteuid()})")
    missing = [name for name in DAEMONS + CLIENTS if which(name) is None]
    if missing:
        pytest.skip(f"SLURM binaries not found: {', '.join(missing)} "
                    "(apt-get install slurm-wlm munge; .ci/run installs them when run as root)")
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm is not installed "
                        "(pip install -e '.[test]')")

    # munged wants every directory of its socket's path searchable by all
    root = Path(tempfile.mkdtemp(prefix="alignshift-slurm-"))
    root.chmod(0o755)
    for sub in ("munge", "state", "spool", "logs"):
        (root / sub).mkdir()
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    node = "alignshift-node"
    conf, gres = ETC / "slurm.conf", ETC / "gres.conf"
    for path in (conf, gres):
        if path.exists() and not path.read_text(errors="replace").startswith(MARK):
            pytest.skip(f"{path} exists (a configured SLURM host); the test writes its own cluster's config "
                        "there and will not replace it")
    ETC.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]  # slurmctld runs only on the host named here
    conf.write_text(SLURM_CONF.format(node=node, host=host, root=root, ctld_port=free_port(),
                                      slurmd_port=free_port(), cpus=os.cpu_count() or 2))
    gres.write_text(MARK + f"NodeName={node} Name=gpu File=/dev/null\n")
    env = {**{k: v for k, v in os.environ.items() if k != "SLURM_CONF"}, "PATH": SBIN}

    procs: list[subprocess.Popen] = []

    def start(*cmd: str, log: str) -> subprocess.Popen:
        out = open(root / "logs" / log, "w")
        proc = subprocess.Popen([which(cmd[0]), *cmd[1:]], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append(proc)
        return proc

    def stop() -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def node_state() -> str:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T", "-n", node], env=env, capture_output=True, text=True)
        return ",".join(sorted(set(out.stdout.split())))  # one line per partition

    try:
        start("munged", "--foreground", f"--key-file={key}", f"--socket={root}/munge/munge.socket",
              f"--pid-file={root}/munge/munged.pid", f"--seed-file={root}/munge/munged.seed",
              f"--log-file={root}/logs/munged.log", log="munged.out")
        munge_ok = wait_for(lambda: subprocess.run(
            ["munge", "-n", "-S", f"{root}/munge/munge.socket"], env=env, capture_output=True).returncode == 0, 15)
        if not munge_ok:
            pytest.skip(f"munged could not start here: {errors_in(root / 'logs' / 'munged.out')}")
        ctld = start("slurmctld", "-D", "-i", "-f", str(conf), log="slurmctld.out")
        slurmd = start("slurmd", "-D", "-f", str(conf), "-N", node, log="slurmd.out")
        up = wait_for(lambda: node_state() in ("idle", "mixed", "allocated")
                      or ctld.poll() is not None or slurmd.poll() is not None, 60)
        if not up or ctld.poll() is not None or slurmd.poll() is not None:
            logs = [root / "slurmctld.log", root / "slurmd.log", root / "logs" / "slurmctld.out",
                    root / "logs" / "slurmd.out"]
            pytest.skip(f"slurmd/slurmctld could not run here (node state {node_state()!r}, "
                        f"slurmctld exit {ctld.poll()}, slurmd exit {slurmd.poll()}): {errors_in(*logs)}")
        yield {"env": env, "root": root, "node": node}
    finally:
        stop()
        for path in (conf, gres):
            if path.exists() and path.read_text(errors="replace").startswith(MARK):
                path.unlink()
        shutil.rmtree(root, ignore_errors=True)


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


def controller_jobs(env: dict) -> dict[str, dict[str, str]]:
    """Every job slurmctld still holds (MinJobAge keeps finished ones): id -> fields."""
    out = run(["scontrol", "-o", "show", "job"], Path.cwd(), env)
    assert out.returncode == 0, out.stderr
    jobs = {}
    for line in out.stdout.splitlines():
        fields = dict(re.findall(r"(\w[\w/:]*)=(\S*)", line))
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


@pytest.fixture
def judge_api():
    """A stub OpenAI-compatible endpoint on this machine (the node reaches it): every
    reply is the score 12. Yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps({"model": "stub-judge", "choices": [{"message": {"content": "12"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def test_study_slice_runs_through_sbatch_and_matches_a_local_run(slurm_cluster, tiny_model_dir, judge_api, tmp_path):
    cfg = study_config(tiny_model_dir)
    cfg["finetune"] = {}
    cfg["probes"]["judge"] = {"max_new_tokens": 4, "judging": {"backend": "openai",
                                                               "api": {"base_url": judge_api, "model": "stub-judge"}}}
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for workdir in (local, cluster):
        workdir.mkdir()
        write_config(workdir, cfg)
    common = ["--directory", ".", "--configfile", "config.yaml"]
    dry = run([*SNAKEMAKE, *common, "--cores", "2", "-n", "--forceall", *TARGETS], local)
    assert dry.returncode == 0, dry.stderr[-4000:]
    planned = sorted(rule for rule, _ in planned_jobs(dry.stdout))
    assert {"evaluate", "fetch_model", "judging_judge_api"} <= set(planned), planned

    t0 = time.monotonic()
    result = run([*SNAKEMAKE, *common, "--cores", "2", *TARGETS], local)
    assert result.returncode == 0, result.stderr[-4000:]
    t_local = time.monotonic() - t0

    t0 = time.monotonic()
    result = run([*SNAKEMAKE, *common, "--profile", str(REPO / "profiles" / "slurm"),
                  # no accounting database on this cluster: poll with squeue, and often
                  "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
                  *TARGETS], cluster, slurm_cluster["env"])
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    t_slurm = time.monotonic() - t0
    print(f"local run {t_local:.0f} s, SLURM run {t_slurm:.0f} s")
    # where each job ran, as snakemake printed it: the local rules (the model fetch, a
    # download rule) on this, the login node; every other job through sbatch
    ran_here = sorted(re.findall(r"^localrule (\w+):", log, re.M))
    assert ran_here == ["fetch_model"], ran_here
    assert (cluster / "resources" / "models" / "tiny" / "manifest.json").is_file()
    planned = sorted(rule for rule in planned if rule not in ran_here)

    # (a) the jobs went through sbatch: the evaluation job saw its SLURM job id, and the
    # controller holds a completed job per rule, submitted with the profile's resources
    scores = cluster / "results" / "scores" / "tiny" / "ideology.parquet"
    job_id = read_provenance(scores).get("slurm_job_id")
    assert job_id, read_provenance(scores)
    assert "slurm_job_id" not in read_provenance(local / "results" / "scores" / "tiny" / "ideology.parquet")
    jobs = controller_jobs(slurm_cluster["env"])
    assert job_id in jobs, (job_id, sorted(jobs))
    evaluate = jobs[job_id]
    assert evaluate["JobState"] == "COMPLETED", evaluate
    assert evaluate["Comment"].startswith("rule_evaluate"), evaluate
    # no account in the profile: the plugin looks for the user's default one, and this
    # cluster (no accounting database) has none, so the job runs without
    assert evaluate["Partition"] == "gpu" and evaluate["Account"] in ("(null)", ""), evaluate
    assert evaluate["TresPerJob"] == "gres:gpu:1", evaluate  # resources gpu=1 -> sbatch --gpus=1
    assert evaluate["JobName"].startswith("alignshift_"), evaluate
    assert Path(evaluate["WorkDir"]).resolve() == cluster.resolve(), evaluate

    # one SLURM job per job of the DAG (the profile's retries would add more on failure)
    ours = {i: j for i, j in jobs.items() if j["JobName"] == evaluate["JobName"]}
    submitted = sorted(re.sub(r"^rule_(.+?)(_wildcards_.*)?$", r"\1", j["Comment"]) for j in ours.values())
    assert submitted == planned, (submitted, planned)
    assert all(j["JobState"] == "COMPLETED" and j["ExitCode"] == "0:0" for j in ours.values()), ours
    cpu_jobs = [j for j in ours.values() if j is not evaluate]
    assert all(j["Partition"] == "cpu" and j["Account"] == evaluate["Account"] for j in cpu_jobs), cpu_jobs
    assert all(j.get("TresPerJob", "") in ("", "(null)") for j in cpu_jobs), cpu_jobs
    # among them the API judge: the CPU partition, no --gpus
    (judging,) = [j for j in ours.values() if j["Comment"].startswith("rule_judging_judge_api")]
    assert judging["Partition"] == "cpu" and judging.get("TresPerJob", "") in ("", "(null)"), judging
    # every job's SLURM log (kept by the profile) names its job id
    slurm_logs = {p.stem for p in (cluster / "results" / "logs" / "slurm").rglob("*.log")}
    assert set(ours) <= slurm_logs, (sorted(ours), sorted(slurm_logs))

    # (b) the results equal a local run's
    pd.testing.assert_frame_equal(pd.read_parquet(scores),
                                  pd.read_parquet(local / "results" / "scores" / "tiny" / "ideology.parquet"))
    for target in TARGETS:
        pd.testing.assert_frame_equal(pd.read_csv(cluster / target), pd.read_csv(local / target))
    judged = pd.read_parquet(cluster / "results" / "scores" / "judge.judging.parquet")
    assert len(judged) == 5 and (judged["judge_score"] == 12.0).all()
