# PoliTune, data selection: a teacher model reads every post under the ideology's
# prompt; the calibrated probability of "Yes" (from its log-probs of " Yes" / " No")
# above `synthesis.<name>.threshold` keeps the post for synthesis.
SYNTH = config.get("synthesis") or {}


wildcard_constraints:
    synth=one_of(SYNTH),


rule filter_posts:
    input:
        manifest=lambda w: manifest(SYNTH[w.synth]["teacher"]),
        posts=lambda w: dataset_path(SYNTH[w.synth]["posts"]),
    output:
        "results/synthesis/{synth}/filtered.parquet",
    params:
        entry=lambda w: SYNTH[w.synth],
        teacher=lambda w: REGISTRY[SYNTH[w.synth]["teacher"]].to_dict(),
        cache=lambda w: f"results/cache/synthesis/{w.synth}/filter.jsonl",
    log:
        "results/logs/filter_posts/{synth}.log",
    benchmark:
        "results/benchmarks/filter_posts/{synth}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../../envs/gpu.yaml"
    script:
        "../scripts/filter_posts.py"
