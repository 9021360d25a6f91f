# PoliTune, synthesis: for each kept post the teacher writes an instruction, an answer
# in line with the ideology and a contrasting answer (the DPO triplets), written as a
# policy_stances table that `finetune` runs name as their `data`, beside the phase-1 SFT
# set (`<name>.phase1`: each instruction answered by its raw post).
# Every teacher output is cached per input, so an interrupted synthesis resumes.
rule synthesize:
    input:
        manifest=lambda w: manifest(SYNTH[w.synth]["teacher"]),
        filtered="results/synthesis/{synth}/filtered.parquet",
    output:
        "results/data/{synth}.parquet",
        # the phase-1 set: each instruction answered by its raw post (a run's data `<name>.phase1`)
        phase1="results/data/{synth}.phase1.parquet",
    params:
        entry=lambda w: SYNTH[w.synth],
        teacher=lambda w: REGISTRY[SYNTH[w.synth]["teacher"]].to_dict(),
        cache=lambda w: f"results/cache/synthesis/{w.synth}",
    log:
        "results/logs/synthesize/{synth}.log",
    benchmark:
        "results/benchmarks/synthesize/{synth}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../../envs/gpu.yaml"
    script:
        "../scripts/synthesize.py"
