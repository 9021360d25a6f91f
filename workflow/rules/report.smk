# What `snakemake --report results/report.html` shows besides the figures: the metrics
# tables (every probe's and every table a figure reads, as HTML pages), the study's
# config as this run resolved it (after --configfile / --config) and the software
# versions. All are cheap, so they run where snakemake runs (also under SLURM).
from alignshift.provenance import library_versions


localrules:
    report_config,
    report_versions,
    report_table,


METRIC_TABLES = sorted(
    {probe for probe in PROBES}
    | {table for name in config["figures"] for table in figures.input_paths(name)}
)


rule report_table:
    input:
        "results/metrics/{table}.csv",
    output:
        report(
            "results/report/tables/{table}.html",
            caption="../report/metrics_table.rst",
            category="Metrics",
        ),
    wildcard_constraints:
        table=one_of(METRIC_TABLES),
    log:
        "results/logs/report/table_{table}.log",
    benchmark:
        "results/benchmarks/report/table_{table}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/report_table.py"


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
