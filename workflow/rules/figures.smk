# Each figure is its own target: snakemake results/figures/<name>.pdf


rule figure_ideology_trajectory:
    input:
        "results/metrics/ideology.csv",
    output:
        pdf="results/figures/ideology_trajectory.pdf",
        png=report(
            "results/figures/ideology_trajectory.png",
            caption="../report/ideology_trajectory.rst",
            category="Ideology",
        ),
    params:
        figure="ideology_trajectory",
    log:
        "results/logs/figures/ideology_trajectory.log",
    benchmark:
        "results/benchmarks/figures/ideology_trajectory.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/figure.py"


rule figure_country_pairs_favourability:
    input:
        "results/metrics/country_pairs.csv",
    output:
        pdf="results/figures/country_pairs_favourability.pdf",
        png=report(
            "results/figures/country_pairs_favourability.png",
            caption="../report/country_pairs_favourability.rst",
            category="Geopolitics",
        ),
    params:
        figure="country_pairs_favourability",
    log:
        "results/logs/figures/country_pairs_favourability.log",
    benchmark:
        "results/benchmarks/figures/country_pairs_favourability.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/figure.py"


rule figure_country_pairs_language:
    input:
        "results/metrics/country_pairs.csv",
    output:
        pdf="results/figures/country_pairs_language.pdf",
        png=report(
            "results/figures/country_pairs_language.png",
            caption="../report/country_pairs_language.rst",
            category="Geopolitics",
        ),
    params:
        figure="country_pairs_language",
    log:
        "results/logs/figures/country_pairs_language.log",
    benchmark:
        "results/benchmarks/figures/country_pairs_language.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/figure.py"


rule figure_country_rank_correlation:
    input:
        "results/metrics/country_rank_correlation.csv",
    output:
        pdf="results/figures/country_rank_correlation.pdf",
        png=report(
            "results/figures/country_rank_correlation.png",
            caption="../report/country_rank_correlation.rst",
            category="Countries",
        ),
    params:
        figure="country_rank_correlation",
    log:
        "results/logs/figures/country_rank_correlation.log",
    benchmark:
        "results/benchmarks/figures/country_rank_correlation.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/figure.py"
