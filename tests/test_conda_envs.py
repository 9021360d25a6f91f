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

FAKE_CONDA = r'''#!{python}
"""Stand-in for conda (tests/test_conda_envs.py): what Snakemake calls, done with venv + pip."""
import json, os, re, subprocess, sys, tempfile
from pathlib import Path

import yaml

PREFIX = Path(__file__).resolve().parents[1]
args = sys.argv[1:]
with open(PREFIX / "calls.jsonl", "a") as fh:
    fh.write(json.dumps(args) + "\n")
if args == ["--version"]:
    print("conda 24.11.3")
elif args[:2] == ["info", "--json"]:
    print(json.dumps({{"conda_prefix": str(PREFIX), "root_prefix": str(PREFIX), "platform": "linux-64",
                      "conda_version": "24.11.3", "envs_dirs": [str(PREFIX / "envs")]}}))
elif args[:3] == ["config", "--get", "channel_priority"]:
    print(json.dumps({{"get": {{"channel_priority": "strict"}}, "rc_path": "", "success": True, "warnings": []}}))
elif args[:1] == ["clean"]:
    pass  # conda clean --tarballs: nothing cached here
elif args[:2] == ["env", "create"]:
    env_file = args[args.index("--file") + 1]
    prefix = args[args.index("--prefix") + 1]
    spec = yaml.safe_load(Path(env_file).read_text())
    pip_lines = []
    for dep in spec.get("dependencies", []):
        if isinstance(dep, dict):
            pip_lines += dep.get("pip", [])
            continue
        name, version = re.match(r"([A-Za-z0-9_.-]+)(.*)", dep).groups()
        if name == "python":
            want = version.lstrip("=")
            have = "{{}}.{{}}".format(*sys.version_info[:2])
            if want and not have.startswith(want):
                sys.exit(f"fake conda: the env wants python {{want}}, this stand-in has {{have}}")
        elif name != "pip":
            sys.exit(f"fake conda: cannot install the conda package {{dep!r}} (only python and pip)")
    base = os.environ["FAKE_CONDA_PYTHON"]
    subprocess.run([base, "-m", "venv", prefix], check=True)
    site = next(Path(prefix, "lib").glob("python3*/site-packages"))
    (site / "sitecustomize.py").write_text(os.environ["FAKE_CONDA_GUARD"])
    if pip_lines:
        # conda's pip installer: a requirements file in the env file's folder, pip run from there
        workdir = os.path.dirname(os.path.abspath(env_file))
        req = tempfile.NamedTemporaryFile("w", prefix="condaenv.", suffix=".requirements.txt", dir=workdir,
                                          delete=False)
        req.write("\n".join(pip_lines))
        req.close()
        try:
            result = subprocess.run([f"{{prefix}}/bin/python", "-m", "pip", "install", "-U", "-r", req.name,
                                     "--exists-action=b", "-q"], cwd=workdir)
        finally:
            os.unlink(req.name)
        sys.exit(result.returncode)
else:
    sys.exit(f"fake conda: unsupported call {{args}}")
'''

ACTIVATE = """# stand-in for conda's activate (tests/test_conda_envs.py)
export CONDA_PREFIX="$1"
export PATH="$1/bin:$PATH"
"""

# the project's libraries: in a job they must come from the job's environment (or, for
# alignshift itself, the checkout), never from the process that started snakemake
GUARD = """
import sys
from importlib.machinery import PathFinder

_ALLOWED = (sys.prefix, {src!r})
_GUARDED = {guarded!r}


class _OnlyThisEnvironment:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if path is not None or name not in _GUARDED:
            return None
        spec = PathFinder.find_spec(name)
        origin = spec and (spec.origin or next(iter(spec.submodule_search_locations or []), None))
        if origin and not origin.startswith(_ALLOWED):
            raise ImportError(f"{{name}} is not in this environment ({{sys.prefix}}): it would come from {{origin}}")
        return None


sys.meta_path.insert(0, _OnlyThisEnvironment)
"""
GUARDED = {"alignshift", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "huggingface_hub",
           "safetensors", "gguf", "pandas", "pyarrow", "numpy", "scipy", "matplotlib", "geopandas", "shapely",
           "yaml", "jsonschema", "tqdm", "tokenizers", "sklearn", "qa_metrics", "joblib", "bitsandbytes"}


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


@pytest.fixture(scope="module")
def fake_conda(tmp_path_factory):
    base = tmp_path_factory.mktemp("conda-base")
    (base / "bin").mkdir()
    conda = base / "bin" / "conda"
    conda.write_text(FAKE_CONDA.format(python=sys.executable))
    conda.chmod(0o755)
    (base / "bin" / "activate").write_text(ACTIVATE)
    env = dict(os.environ)
    env.update(PATH=f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(REPO / "src"),
               FAKE_CONDA_PYTHON=getattr(sys, "_base_executable", sys.executable),
               FAKE_CONDA_GUARD=GUARD.format(src=str(REPO / "src"), guarded=sorted(GUARDED)),
               # envs/cpu.yaml names the PyTorch CPU index, which no machine of this project
               # reaches: pip skips it at once instead of retrying every lookup (torch
               # 2.13.0+cpu comes from the machine's own package index)
               PIP_RETRIES="0")
    env.pop("ALIGNSHIFT_ROOT", None)
    return {"base": base, "env": env}


def snakemake(workdir: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
                           "--cores", "2", "--use-conda", *args], env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_use_conda_builds_the_copied_env_files_and_runs_the_jobs_in_them(fake_conda, tiny_model_dir, tmp_path):
    from global_fixtures import write_tydiqa
    from test_cfmatch import TRAIN_CLASSIFIER

    from alignshift.provenance import read_provenance

    workdir = tmp_path / "study"
    workdir.mkdir()
    commit = "dbfd4dc3c0927b948ba52b579572138eb34e70d1"  # no repeated run: a {commit} wildcard value
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(
        models={"tiny": {"id": str(tiny_model_dir), "stage": "pt", "chat_template": True, "dtype": "float32"}},
        datasets={"questionnaire": {"loader": "questionnaire", "path": str(REPO / "data/ideology/questionnaire.csv")},
                  "tydiqa_dev": {"loader": "tydiqa_goldp", "split": "validation",
                                 "path": str(write_tydiqa(tmp_path / "tydiqa-dev.json", "dev"))},
                  "tydiqa_train": {"loader": "tydiqa_goldp", "split": "train",
                                   "path": str(write_tydiqa(tmp_path / "tydiqa-train.json", "train"))}},
        finetune={}, figures=[],
        probes={"ideology": {}, "extractive_qa": {"max_new_tokens": 4, "cfmatch": {"enabled": True, "commit": commit}}})
    write_config(workdir, cfg)
    targets = ["results/metrics/ideology.csv", "results/metrics/extractive_qa.csv", "results/provenance/versions.tsv"]

    # 1. the environments, as `snakemake --use-conda` builds them
    built = snakemake(workdir, fake_conda["env"], "--conda-create-envs-only", *targets)
    assert built.returncode == 0, (built.stdout + built.stderr)[-6000:]
    conda_dir = workdir / ".snakemake" / "conda"
    copies = {p.read_text(): p for p in conda_dir.glob("*.yaml")}
    envs = {}
    for name in ("cpu", "gpu", "cfmatch"):
        copy = copies[env_text(name)]  # Snakemake's verbatim copy of the file the run wrote
        envs[name] = copy.with_suffix("")
        assert (envs[name] / "bin" / "python").exists(), name
    calls = [json.loads(l) for l in (fake_conda["base"] / "calls.jsonl").read_text().splitlines()]
    created = sorted(Path(c[c.index("--file") + 1]).resolve() for c in calls if c[:2] == ["env", "create"])
    assert created == sorted(p.with_suffix(".yaml").resolve() for p in envs.values())

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
    classifier = tmp_path / "classifier"
    classifier.mkdir()
    subprocess.run([str(envs["cfmatch"] / "bin" / "python"), "-c", TRAIN_CLASSIFIER, str(classifier)], check=True)
    cfg["probes"]["extractive_qa"]["cfmatch"]["classifier"] = str(classifier)
    write_config(workdir, cfg)

    # 2. the jobs, each in its rule's environment (this Python has no qa-metrics: with
    # --use-conda that stops nothing)
    run = snakemake(workdir, fake_conda["env"], *targets)
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
