"""extractive_qa's later stage `cfmatch`: each model's answers judged by CFMatch (Li et
al. 2024, the paper's TyDiQA metric; alignshift.cfmatch), one job per model, as
alignshift.probes.stages reads it.

Its job runs in CFMatch's own environment (envs/cfmatch.yaml): qa-metrics pins
scikit-learn 1.3.2, which needs numpy < 2, so that environment cannot install
alignshift, and the job is a script of its own (workflow/scripts/cfmatch.py, which
imports only the light alignshift.cfmatch from the source tree) instead of a `run` here.
The classifier of the pinned commit is fetched once by rule cfmatch_classifier
(workflow/rules/cfmatch.smk), a local rule: downloads run where the internet is.
"""

from __future__ import annotations

from ...cfmatch import classifier_commit, classifier_record, requirements_message, requirements_problem

JOB_PER = "model"
CONDA_ENV = "cfmatch"
SCRIPT = "cfmatch.py"


def rule_name(probe: str, settings: dict) -> str:
    # the name it had before stages were generic: docs, messages and profiles use it
    return "cfmatch"


def downloads(settings: dict) -> dict[str, str]:
    return {"classifier": classifier_record(classifier_commit(settings))}


def missing_requirements() -> str | None:
    """Without --use-conda the job runs in the Python that runs snakemake: qa-metrics
    and its pinned scikit-learn must be installed there."""
    problem = requirements_problem()
    return requirements_message(problem) if problem else None
