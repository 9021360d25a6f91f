# alignshift: how post-training shifts a model's political, geopolitical and cultural
# biases. Models -> data -> fine-tuning -> checkpoint evaluation -> analysis -> figures.
from pathlib import Path

from snakemake.utils import min_version, validate

from alignshift import conda_envs
from alignshift.yaml_files import read_yaml

min_version("9.0")

# The conda environments that install this checkout (envs/cpu.yaml, envs/gpu.yaml, for
# --use-conda) are written from envs/templates/ with the checkout's directory and the
# checksums of its constraints.txt and pyproject.toml: Snakemake names an environment
# by its file's content, so each checkout gets its own, rebuilt when its pins change.
conda_envs.write(Path(workflow.basedir))


# A study config given with --configfile replaces the default study (it is not merged
# into it); --config key=value still overrides single keys.
if not workflow.overwrite_configfiles:
    # read once here for an error naming the file and line (Snakemake's names neither)
    read_yaml("config/config.yaml", "config file")

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/filter.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/released.smk"
include: "workflow/rules/stages.smk"
include: "workflow/rules/cfmatch.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/hub_lock.smk"
include: "workflow/rules/downloads.smk"


rule all:
    input:
        all_targets,
        # every metrics table, and each as the report shows it (workflow/rules/report.smk):
        # targets themselves, so a table deleted after a run (or by Snakemake after a failed
        # job) is rebuilt, where an intermediate file under finished outputs would not be
        metrics_tables(),
        report_tables(),
        # the study's hub lock file (workflow/rules/hub_lock.smk)
        hub_lock_file(),
    default_target: True
