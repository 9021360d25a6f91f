"""How long a workflow job takes to start: every job is a fresh Python process that imports
what its script imports (`from alignshift import jobs`, then what the job itself imports)
before it reads a byte. A study runs hundreds of small jobs (fetches, data, plans, tables,
figures, report pages), so this is paid hundreds of times.

Each job kind's imports are timed in fresh processes (median of --repeats) with the heavy
libraries each one loaded. `--src` times another checkout's `src/` (e.g. an older commit in
a `git worktree`) with the same interpreter, for a before/after on the same machine.

    python benchmarks/job_startup.py [--src ../before/src] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from common import commit, device_name, write_json

ROOT = Path(__file__).resolve().parent.parent

# what each kind of job imports before it starts working (workflow/scripts/*.py, then the
# function of alignshift.jobs it calls), and what every snakemake invocation imports to
# build its DAG (the imports of Snakefile and workflow/rules/*.smk)
JOBS = {
    "fetch_model, prepare_data, hub_lock, report pages": "from alignshift import jobs",
    "plan_run": "from alignshift import jobs, finetune, planning",
    "figure": "from alignshift import figures, jobs",
    "analyze, probe_tables": "from alignshift import jobs, probes, registry, stats",
    "evaluate": "from alignshift import jobs, probes, scoring\nfrom alignshift.models import load\nimport torch, transformers",
    "snakemake's DAG (every invocation)": "from alignshift import cfmatch, conda_envs, data, figures, planning, probes, "
                                          "recipes, registry\nfrom alignshift.data import hub, released\n"
                                          "from alignshift.probes import released_outputs",
}
HEAVY = ("torch", "transformers", "scipy", "matplotlib", "trl", "peft", "datasets")

PROBE = """
import json, sys, time
start = time.perf_counter()
{imports}
print(json.dumps({{"seconds": time.perf_counter() - start,
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def time_imports(imports: str, src: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = PROBE.format(imports=imports, heavy=HEAVY)
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                                      text=True).stdout) for _ in range(repeats)]
    return {"median_s": statistics.median(r["seconds"] for r in runs), "heavy": runs[0]["heavy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the alignshift sources to time")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "results/benchmarks/job_startup.json"))
    args = parser.parse_args()
    src = args.src.resolve()
    rows = []
    for job, imports in JOBS.items():
        row = {"job": job, **time_imports(imports, src, args.repeats)}
        rows.append(row)
        print(f"{job:<52} {row['median_s']:6.2f} s   {', '.join(row['heavy']) or '-'}")
    write_json(args.out, {"benchmark": "job_startup", "src": str(src), "commit": commit(),
                          "machine": device_name(), "cpus": os.cpu_count(),
                          "python": platform.python_version(), "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
