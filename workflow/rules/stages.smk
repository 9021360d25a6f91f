# The later stages probes declare (`stages:` in a probe's spec.yaml, e.g. the judge
# probe's `judging`, extractive_qa's `cfmatch`): one rule per (probe, stage), everything
# stage-specific read from the stage's module in the probe's folder
# (alignshift.probes.stages): one job on every model's scores, or one per model; the
# helper models and downloads it reads; its outputs, name, GPU, cache, environment and
# script. This file names no stage.
from snakemake.logging import logger

for _probe, _stage in STAGES.items():

    rule:
        name:
            _stage.rule(stage_settings(_probe))
        input:
            unpack(lambda w, probe=_probe: stage_inputs(probe, w)),
        output:
            **_stage.outputs(),
        params:
            **stage_params(_probe),
        log:
            _stage.log(),
        benchmark:
            _stage.benchmark()
        threads: stage_threads(_probe)
        resources:
            **_stage.resources(stage_settings(_probe)),
        conda:
            f"../../envs/{_stage.conda_env}.yaml"
        script:
            f"../scripts/{_stage.script}"


# Without --use-conda every job runs in the Python that runs snakemake, which may lack
# what a stage's own environment has (CFMatch's qa-metrics): a dry run says so, and a
# real run stops before its first job when a job of that stage is due.
UNABLE_STAGES = stages_unable_here()
if workflow.is_main_process:
    for _message in UNABLE_STAGES.values():
        logger.warning(_message)


START_CHECKS.append(unable_stage_jobs)
