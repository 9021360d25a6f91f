# What `snakemake --report results/report.html` shows besides the figures: the study's
# config as this run resolved it (after --configfile / --config) and the software
# versions. Both are cheap, so they run where snakemake runs (also under SLURM).
import importlib.metadata
from pathlib import Path

import yaml

from alignshift.provenance import library_versions


localrules:
    report_config,
    report_versions,


rule report_config:
    output:
        report("results/provenance/study.yaml", caption="../report/study_config.rst", category="Provenance"),
    params:
        # a changed config rewrites it
        config=config,
    run:
        Path(output[0]).write_text(yaml.safe_dump(params.config, sort_keys=False, allow_unicode=True))


rule report_versions:
    output:
        report("results/provenance/versions.tsv", caption="../report/versions.rst", category="Provenance"),
    params:
        # an upgraded library rewrites it
        versions={**library_versions(), "snakemake": importlib.metadata.version("snakemake")},
    run:
        rows = ["package\tversion", *(f"{name}\t{version}" for name, version in params.versions.items())]
        Path(output[0]).write_text("\n".join(rows) + "\n")
