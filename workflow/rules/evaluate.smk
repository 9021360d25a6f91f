# Every model and every saved checkpoint on every probe. With `evaluation.job_per:
# model` one job loads a model once and writes each probe's table, and beside it the
# prompts the model saw (results/prompts/<model>/<probe>.parquet); scores are cached
# per prompt (results/cache/), so a rerun after a probe's settings change rescores
# only that probe, and a killed job redoes only what is missing.
EVAL_JOB = "{model}" if EVAL_PER_MODEL else "{model}/{probe}"


rule evaluate:
    wildcard_constraints:
        # models with released outputs get their scores from rule released_scores;
        # checkpoints of runs planned from their data are named once planned
        model=one_of(EVALUATED, DATA_PLANNED),
    input:
        unpack(evaluate_inputs),
    output:
        **evaluate_outputs(),
    params:
        model=lambda w: model_spec(w.model).to_dict(),
        probes=lambda w: {probe: PROBE_SPECS[probe] for probe in evaluated_probes(w)},
        cache=lambda w: f"results/cache/scores/{w.model}",
        seed=config["seed"],
        code=lambda w: {probe: probe_code(probe, "items") for probe in evaluated_probes(w)},
    log:
        f"results/logs/evaluate/{EVAL_JOB}.log",
    benchmark:
        f"results/benchmarks/evaluate/{EVAL_JOB}.tsv"
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
