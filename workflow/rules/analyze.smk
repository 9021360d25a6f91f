# Per-probe metrics with 95% bootstrap confidence intervals.
rule analyze:
    input:
        lambda w: scores(w.probe),
    output:
        "results/metrics/{probe}.csv",
    params:
        seed=config["seed"],
    log:
        "results/logs/analyze/{probe}.log",
    benchmark:
        "results/benchmarks/analyze/{probe}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/analyze.py"


rule analyze_rank_correlation:
    input:
        "results/metrics/country_rank.csv",
    output:
        "results/metrics/country_rank_correlation.csv",
    log:
        "results/logs/analyze/country_rank_correlation.log",
    benchmark:
        "results/benchmarks/analyze/country_rank_correlation.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/rank_correlation.py"
