"""`snakemake --use-conda` as Snakemake does it: the env files are copied to
`.snakemake/conda/<hash>.yaml`, conda builds each environment from the copy (running pip
from the copy's folder), and every job's script runs in its environment.

No conda is installed here, so a stand-in `conda` (a Python script, below) answers
Snakemake's calls: `--version`, `info --json`, `config --get channel_priority`,
`env create --file <copy> --prefix <env>` (a virtual environment of the env file's
python, then pip exactly as conda runs it: the `pip:` lines written to a requirements
file beside the copied env file, pip started in that folder), and `bin/activate`. The
environments hold only their own packages: Snakemake appends the main process's import
path to every script's (so a job can unpickle its `snakemake` object), and a guard in
each environment makes a job fail if one of the project's libraries would come from
there instead of from the environment.

The unit checks (no environment built) run always; the DAG is `slow`.
"""

import hashlib
import json
import os
import shutil
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, write_config

def env_text(name: str) -> str:
    """An env file as a run of this checkout uses it: cpu and gpu written from their
    templates (alignshift.conda_envs), cfmatch as committed."""
    from alignshift import conda_envs

    return conda_envs.render(REPO, name) if name in conda_envs.TEMPLATES else (REPO / "envs" / f"{name}.yaml").read_text()


def pip_lines(text: str) -> list[str]:
    spec = yaml.safe_load(text)
    return [line for dep in spec["dependencies"] if isinstance(dep, dict) for line in dep.get("pip", [])]


@pytest.mark.parametrize("name", ["cpu", "gpu", "cfmatch"])
def test_env_files_name_nothing_relative_to_themselves(name):
    """Snakemake builds an environment from a copy in .snakemake/conda/: a relative path
    in a `pip:` line (like `-e ..`) would point into .snakemake/, not at the project."""
    for line in pip_lines(env_text(name)):
        for token in line.split():
            path = token.split("[")[0]
            assert not re.match(r"^\.\.?(/|$)", path), f"envs/{name}.yaml: {line!r} is relative to the env file"


def test_env_files_install_the_checkout_with_its_pins():
    root = str(REPO.resolve())
    for name, extra in (("cpu", ""), ("gpu", "[gpu]")):
        text = env_text(name)
        lines = pip_lines(text)
        assert f"-c {root}/constraints.txt" in lines and f"-e {root}{extra}" in lines, lines
        assert f"# checkout: {root}\n" in text
        for pin in ("constraints.txt", "pyproject.toml"):
            assert f"# {pin}: sha256 {hashlib.sha256((REPO / pin).read_bytes()).hexdigest()}\n" in text
    # the CPU env's own torch pin agrees with the lock (2.13.0+cpu is 2.13.0's CPU build)
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    cpu_torch = next(l for l in pip_lines(env_text("cpu")) if l.startswith("torch=="))
    assert cpu_torch.split("==")[1].split("+")[0] == pins["torch"]
    assert "bitsandbytes" in pins


def snakemake(workdir: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                           "--cores", "2", "--use-conda", *args], env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_use_conda_builds_the_copied_env_files_and_runs_the_jobs_in_them(conda_envs):
    from alignshift.provenance import read_provenance

    workdir, envs, env = conda_envs["workdir"], conda_envs["envs"], conda_envs["env"]
    cfg, targets, classifier = conda_envs["config"], conda_envs["targets"], conda_envs["classifier"]
    commit = cfg["probes"]["extractive_qa"]["cfmatch"]["commit"]

    # 1. the environments, as `snakemake --use-conda` built them (conftest.conda_envs): each
    # from Snakemake's verbatim copy of the file this checkout's run wrote
    for name in ("cpu", "gpu", "cfmatch"):
        assert envs[name].with_suffix(".yaml").read_text() == env_text(name)
        assert (envs[name] / "bin" / "python").exists(), name
    assert conda_envs["created"] == sorted(p.with_suffix(".yaml").resolve() for p in envs.values())

    # each environment has its own packages, not the dev venv's
    def version(name, package):
        out = subprocess.run([str(envs[name] / "bin" / "python"), "-c",
                              f"import importlib.metadata as m; print(m.version({package!r}))"],
                             capture_output=True, text=True)
        return out.stdout.strip() or out.stderr.strip()[-300:]

    assert version("cpu", "torch") == "2.13.0+cpu" and version("cpu", "alignshift") == "0.1.0"
    assert version("gpu", "bitsandbytes") == "0.50.2" and version("gpu", "alignshift") == "0.1.0"
    assert version("cfmatch", "numpy") == "1.26.4" and version("cfmatch", "qa-metrics") == "0.1.42"

    # CFMatch's classifier, a local copy (`cfmatch.classifier`; here one trained in its
    # environment): copied by the workflow, no download
    cfg = {**cfg, "probes": {**cfg["probes"], "extractive_qa": {
        **cfg["probes"]["extractive_qa"], "cfmatch": {**cfg["probes"]["extractive_qa"]["cfmatch"],
                                                      "classifier": str(classifier)}}}}
    write_config(workdir, cfg)

    # 2. the jobs, each in its rule's environment (this Python has no qa-metrics: with
    # --use-conda that stops nothing)
    run = snakemake(workdir, env, "--conda-prefix", str(conda_envs["prefix"]), *targets)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-8000:]
    copied = json.loads((workdir / "resources" / "cfmatch" / commit / "classifier.json").read_text())
    assert copied["local"] == str(classifier.resolve()) and "url" not in copied

    def job_env(path):
        return read_provenance(workdir / path)["versions"]

    scores = job_env("results/scores/tiny/ideology.parquet")  # rule evaluate: envs/gpu.yaml
    assert scores["environment"] == str(envs["gpu"]) and scores["torch"] == "2.13.0+cpu"
    judged = job_env("results/scores/tiny/extractive_qa.cfmatch.parquet")  # rule cfmatch: envs/cfmatch.yaml
    assert judged["environment"] == str(envs["cfmatch"]) and judged["numpy"] == "1.26.4"
    cfmatch_record = read_provenance(workdir / "results/scores/tiny/extractive_qa.cfmatch.parquet")["cfmatch"]
    assert cfmatch_record["local"] == str(classifier.resolve()) and cfmatch_record["commit"] == commit
    assert job_env("results/data/questionnaire.parquet")["environment"] == str(envs["cpu"])  # rule prepare_data
    qa = pd.read_csv(workdir / "results" / "metrics" / "extractive_qa.csv")
    assert set(qa.measure) == {"cfmatch", "f1"}
    assert len(pd.read_csv(workdir / "results" / "metrics" / "ideology.csv")) > 0
    # the software versions shown by the report are the job environment's, not snakemake's
    versions = dict(line.split("\t") for line in (workdir / "results/provenance/versions.tsv").read_text().splitlines()[1:])
    assert versions["environment"] == str(envs["cpu"]) and versions["torch"] == "2.13.0+cpu"


@pytest.fixture
def fake_conda(tmp_path):
    from fake_conda import install

    return install(tmp_path / "conda-base")


def conda_env_locations(checkout: Path, env: dict, conda_prefix: Path) -> dict[str, Path]:
    """Where `snakemake --use-conda` run in `checkout` puts each env file's environment
    (`--list-conda-envs`: Snakemake's hash of the file, no environment built)."""
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--directory", str(checkout), "--use-conda",
                             "--conda-prefix", str(conda_prefix), "--list-conda-envs",
                             "results/provenance/versions.tsv", "results/scores/smollm2-135m-instruct/ideology.parquet",
                             "--config", "figures=[]"],
                            cwd=checkout, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, (listed.stdout + listed.stderr)[-4000:]
    rows = [line.split("\t") for line in listed.stdout.splitlines() if line.startswith("envs/")]
    # (printed relative to the working directory where it can be)
    return {Path(file).stem: (checkout / location).resolve() for file, _, location in rows}


@pytest.mark.slow
def test_env_hash_follows_constraints_and_checkout(fake_conda, tmp_path):
    """Two checkouts sharing a --conda-prefix get environments of their own, and a changed
    constraints.txt gets a new one (found from Snakemake's own hash of the env files)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    checkouts = [tmp_path / "one", tmp_path / "two"]
    for checkout in checkouts:
        for name in tracked.stdout.splitlines():
            if (REPO / name).is_file():
                (checkout / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, checkout / name)
    shared = tmp_path / "conda-envs"
    one, two = (conda_env_locations(c, fake_conda["env"], shared) for c in checkouts)
    assert set(one) == set(two) == {"cpu", "gpu"}
    assert one["cpu"] != two["cpu"] and one["gpu"] != two["gpu"]
    assert all(loc.parent == shared.resolve() for loc in [*one.values(), *two.values()])
    constraints = checkouts[0] / "constraints.txt"
    constraints.write_text(constraints.read_text().replace("tqdm==4.70.1", "tqdm==4.70.0"))
    changed = conda_env_locations(checkouts[0], fake_conda["env"], shared)
    assert changed["cpu"] != one["cpu"] and changed["gpu"] != one["gpu"]
    assert "tqdm==4.70.0" not in (checkouts[1] / "constraints.txt").read_text()
    assert conda_env_locations(checkouts[1], fake_conda["env"], shared) == two  # nothing changed there
