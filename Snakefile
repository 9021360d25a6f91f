# alignshift: how post-training shifts a model's political, geopolitical and cultural
# biases. Models -> data -> fine-tuning -> checkpoint evaluation -> analysis -> figures.
import os

from snakemake.utils import min_version, validate

min_version("9.0")

# The conda environments (envs/*.yaml, --use-conda) install this checkout as
# ${ALIGNSHIFT_ROOT}: Snakemake copies an env file to .snakemake/conda/ before conda
# runs pip there, so a path relative to the env file would miss the project.
os.environ["ALIGNSHIFT_ROOT"] = workflow.basedir


# A study config given with --configfile replaces the default study (it is not merged
# into it); --config key=value still overrides single keys.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/filter.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/released.smk"
include: "workflow/rules/cfmatch.smk"
include: "workflow/rules/judge.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/downloads.smk"


rule all:
    input:
        all_targets(),
        # the metrics tables as the report shows them (workflow/rules/report.smk)
        report_tables(),
    default_target: True
