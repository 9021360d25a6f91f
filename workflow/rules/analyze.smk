# Per-probe metrics with 95% bootstrap confidence intervals.
rule analyze:
    input:
        lambda w: analysis_scores(w.probe),
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


# The geopolitical pairs study: base -> chat shift per lab with paired CIs, t-tests over
# scenario types (BH-corrected), country x country log-odds, and the binomial test of
# "labs shift toward their home country"; each with and without the consistency filter.
rule analyze_country_pairs_tables:
    input:
        lambda w: scores("country_pairs"),
    output:
        shift="results/metrics/country_pairs_shift.csv",
        pairs="results/metrics/country_pairs_pairs.csv",
        types="results/metrics/country_pairs_types.csv",
        home="results/metrics/country_pairs_home.csv",
    params:
        seed=config["seed"],
        # analysis-only settings: changing them reruns this job, not the scoring
        analysis=lambda w: resolve_spec("country_pairs", config["probes"].get("country_pairs")).get("analysis"),
    log:
        "results/logs/analyze/country_pairs_tables.log",
    benchmark:
        "results/benchmarks/analyze/country_pairs_tables.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/country_pairs_tables.py"
