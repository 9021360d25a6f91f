# What `snakemake --report results/report.html` shows besides the figures: the study's
# config as this run resolved it (after --configfile / --config) and the software
# versions. Both are cheap, so they run where snakemake runs (also under SLURM).
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
    log:
        "results/logs/report/study_config.log",
    benchmark:
        "results/benchmarks/report/study_config.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/report_config.py"


rule report_versions:
    output:
        report("results/provenance/versions.tsv", caption="../report/versions.rst", category="Provenance"),
    params:
        # an upgraded library rewrites it
        versions=library_versions(),
    log:
        "results/logs/report/versions.log",
    benchmark:
        "results/benchmarks/report/versions.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/report_versions.py"
