# The `judging` stage of a probe that declares it (the judge probe): every model's answers
# (from the evaluation jobs) scored by the judge model, loaded once for the study. Judge
# scores are cached per prompt, so a new checkpoint's answers cost only their own scoring.
for _probe in stage_probes("judging"):

    rule:
        name:
            f"judging_{_probe}"
        input:
            answers=scores(_probe),
            manifest=manifest(stage_settings(_probe)["model"]),
        output:
            scores(_probe, stage="judging"),
        params:
            judging=stage_settings(_probe),
            cache=f"results/cache/judging/{stage_settings(_probe)['model']}.jsonl",
        log:
            f"results/logs/judging/{_probe}.log",
        benchmark:
            f"results/benchmarks/judging/{_probe}.tsv"
        threads: config["threads"]["evaluate"]
        resources:
            gpu=1,
            mem_mb=6000,
        conda:
            "../../envs/gpu.yaml"
        script:
            "../scripts/judge.py"
