# Every model and every saved checkpoint on every probe.
rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        "results/scores/{model}/{probe}.parquet",
    params:
        model=lambda w: REGISTRY[w.model].to_dict(),
        spec=lambda w: PROBE_SPECS[w.probe],
        datasets=lambda w: probe_datasets(w.probe),
        seed=config["seed"],
    log:
        "results/logs/evaluate/{model}/{probe}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{probe}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=1,
        mem_mb=6000,
        # 0: sized from free memory; a retry after out-of-memory halves it each time
        max_batch_tokens=lambda wildcards, attempt: 0 if attempt == 1 else 16384 // 2 ** (attempt - 2),
    conda:
        "../../envs/gpu.yaml"
    script:
        "../scripts/evaluate.py"
