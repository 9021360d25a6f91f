# How long each run trains and which checkpoints it keeps, from the rows it will train
# on (alignshift.planning): a recipe's `epochs` decide the step count once the data is
# prepared, a fixed `training.max_steps` is planned alike. A checkpoint rule: the jobs that
# need a run's checkpoints (their evaluations, the model table, the analyses) learn them
# from this plan. Cheap, so it runs where snakemake runs (also under SLURM), before any
# training job is queued.
localrules:
    plan_run,


checkpoint plan_run:
    input:
        data=lambda w: run_data(w.run),
    output:
        planning.plan_path("{run}"),
    params:
        run=lambda w: RUNS[w.run],
        # only what the plan depends on: another learning rate changes training, not the plan
        recipe=lambda w: planning.planning_recipe(reg.recipe(RUNS[w.run])),
    log:
        "results/logs/plan_run/{run}.log",
    benchmark:
        "results/benchmarks/plan_run/{run}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/plan_run.py"


# LoRA SFT / DPO toward a direction: exactly the planned steps; the adapter of every
# planned checkpoint is kept.
rule finetune:
    input:
        manifest=lambda w: manifest(RUNS[w.run]["base"]),
        data=lambda w: run_data(w.run),
        plan=planning.plan_path("{run}"),
    output:
        adapters=directory(reg.adapters_dir("{run}")),
        record="results/finetune/{run}/train_log.json",
    params:
        run=lambda w: RUNS[w.run],
        recipe=lambda w: reg.recipe(RUNS[w.run]),
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
