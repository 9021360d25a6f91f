# LoRA SFT / DPO toward a direction; the adapter of every configured step is kept.
rule finetune:
    input:
        manifest=lambda w: manifest(RUNS[w.run]["base"]),
        data=lambda w: dataset_path(RUNS[w.run]["data"]),
    output:
        adapters=directory(reg.adapters_dir("{run}")),
        record="results/finetune/{run}/train_log.json",
    params:
        run=lambda w: RUNS[w.run],
        recipe=lambda w: reg.recipe(RUNS[w.run]),
        steps=lambda w: reg.checkpoint_steps(RUNS[w.run]),
        base=lambda w: REGISTRY[RUNS[w.run]["base"]].to_dict(),
    log:
        "results/logs/finetune/{run}.log",
    benchmark:
        "results/benchmarks/finetune/{run}.tsv"
    threads: config["threads"]["finetune"]
    # checkpoints gate most evaluation jobs: train first
    priority: 10
    resources:
        gpu=1,
        mem_mb=8000,
    conda:
        "../../envs/gpu.yaml"
    script:
        "../scripts/finetune.py"
