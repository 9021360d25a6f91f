"""A stand-in `conda` for `snakemake --use-conda` on machines without conda (the tests'
and CI's): what Snakemake calls, done with venv + pip (tests/test_conda_envs.py explains
it), and the environment an instance needs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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


def install(base: Path) -> dict:
    """The stand-in conda installed in `base`: {"base", "env"} (the environment to run
    snakemake in, with that conda first on PATH)."""
    (base / "bin").mkdir(parents=True, exist_ok=True)
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
