"""A later stage a probe declares (`stages: [<stage>]` in its spec.yaml, with a settings
group of the stage's name), as the workflow runs it. The module of the stage's name in
the probe's folder (probes/judge/judging.py, probes/extractive_qa/cfmatch.py) declares
it, and one generic rule family (workflow/rules/stages.smk) makes one rule per (probe,
stage) from that declaration, read here once: the rule file names no stage.

What a stage's module declares (`settings`: the probe's settings group of the stage):
- the job: `run(settings, inputs, outputs, cache)`, which workflow/scripts/stage.py
  calls (its settings are the rule's params: changing them reruns it); or `SCRIPT`, a
  script of workflow/scripts/ run instead, for a job whose environment cannot install
  alignshift (CFMatch's: qa-metrics needs numpy < 2), which reads only its inputs;
- `JOB_PER`: "study" (the default: one job reads every model's score tables, a list in
  `inputs["scores"]`, and writes one table, results/scores/<probe>.<stage>.parquet) or
  "model" (one job per model: its score table in, results/scores/<model>/<probe>.<stage>.parquet
  out); either is `outputs["scores"]`;
- `RECORDS_PROMPTS`: a study job also writes the prompts its helper model read
  (`outputs["prompts"]`, results/prompts/<probe>.<stage>.parquet, a target of `all`);
- `CONDA_ENV`: its environment, envs/<name>.yaml (default "cpu"); `THREADS`: the
  config's `threads` entry its job takes (default: one thread);
- `helper_models(settings)`: input name -> a registry model the job loads (its manifest
  is the input, so the model is fetched first);
- `downloads(settings)`: input name -> a file the stage's own download rule makes
  (a local rule with a `downloads` resource, e.g. cfmatch_classifier): target `downloads`
  plans them too;
- `resources(settings)`: the job's Snakemake resources (`gpu: 1` where it loads a model);
- `cache_path(settings)`: the path of the job's cache, or None;
- `rule_name(probe, settings)`: its rule's name (default `<stage>_<probe>`; names are
  what cluster profiles set resources by);
- `missing_requirements()`: why the job cannot run in the Python that runs snakemake, or
  None; asked only without --use-conda, of a stage with an environment of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from .errors import ProbeError

JOB_PER = ("study", "model")
GENERIC_SCRIPT = "stage.py"


def _nothing(*args) -> dict:
    """What a stage that does not declare helper models, downloads or resources has."""
    return {}


def _none(*args) -> None:
    """What a stage that does not declare a cache or missing requirements has."""
    return None


@dataclass(frozen=True)
class Stage:
    """One probe's later stage, as its module declares it (see the module docstring)."""

    probe: str
    name: str
    run: Callable[[dict, dict, dict, str | None], None] | None
    job_per: str = "study"
    script: str = GENERIC_SCRIPT
    conda_env: str = "cpu"
    threads: str | None = None
    records_prompts: bool = False
    helper_models: Callable[[dict], dict[str, str]] = _nothing
    downloads: Callable[[dict], dict[str, str]] = _nothing
    resources: Callable[[dict], dict] = _nothing
    cache_path: Callable[[dict], str | None] = _none
    rule_name: Callable[[dict], str] | None = None  # None: `<stage>_<probe>`
    missing_requirements: Callable[[], str | None] = _none

    @property
    def per_model(self) -> bool:
        return self.job_per == "model"

    @property
    def own_script(self) -> bool:
        """Whether its job is a script of its own (SCRIPT) rather than `run`."""
        return self.script != GENERIC_SCRIPT

    def rule(self, settings: dict) -> str:
        """Its rule's name with these settings."""
        return self.rule_name(settings) if self.rule_name else f"{self.name}_{self.probe}"

    def outputs(self) -> dict[str, str]:
        """Its job's outputs (a per-model job's with a `{model}` wildcard)."""
        if self.per_model:
            return {"scores": f"results/scores/{{model}}/{self.probe}.{self.name}.parquet"}
        prompts = {"prompts": f"results/prompts/{self.probe}.{self.name}.parquet"} if self.records_prompts else {}
        return {"scores": f"results/scores/{self.probe}.{self.name}.parquet", **prompts}

    def log(self) -> str:
        return self._job_file("results/logs", "log")

    def benchmark(self) -> str:
        return self._job_file("results/benchmarks", "tsv")

    def _job_file(self, root: str, extension: str) -> str:
        job = f"{{model}}/{self.probe}" if self.per_model else self.probe
        return f"{root}/{self.name}/{job}.{extension}"


def read_stage(probe: str, name: str, module) -> Stage:
    """A stage's module as its Stage, checked: it has a job (`run` or a `SCRIPT`), a
    known JOB_PER, and records prompts only as one job for the study."""
    run, script = getattr(module, "run", None), getattr(module, "SCRIPT", GENERIC_SCRIPT)
    where = f"probe {probe}: stage {name} ({module.__name__.replace('.', '/')}.py)"
    if run is None and script == GENERIC_SCRIPT:
        raise ProbeError(f"{where} has no run(settings, inputs, outputs, cache) and names no SCRIPT")
    job_per = getattr(module, "JOB_PER", "study")
    if job_per not in JOB_PER:
        raise ProbeError(f"{where}: JOB_PER must be one of {JOB_PER}, not {job_per!r}")
    records_prompts = bool(getattr(module, "RECORDS_PROMPTS", False))
    if records_prompts and job_per != "study":
        raise ProbeError(f"{where}: RECORDS_PROMPTS needs JOB_PER 'study' (one prompts table for the study)")
    declared = {field: getattr(module, attribute) for field, attribute in (
        ("conda_env", "CONDA_ENV"), ("threads", "THREADS"), ("helper_models", "helper_models"),
        ("downloads", "downloads"), ("resources", "resources"), ("cache_path", "cache_path"),
        ("missing_requirements", "missing_requirements")) if hasattr(module, attribute)}
    if hasattr(module, "rule_name"):
        declared["rule_name"] = partial(module.rule_name, probe)
    return Stage(probe, name, run, job_per=job_per, script=script, records_prompts=records_prompts, **declared)
