


for _probe in stage_probes("judging"):

    rule:
        name:
            f"judging_{_probe}" if judging_local(_probe) else f"judging_{_probe}_api"
        input:
            unpack(lambda w, probe=_probe: judging_inputs(probe)),
        output:
            scores=judged_scores(_probe),
            # the prompts the judge saw (joined to the scores by judge_prompt_hash)
            prompts=judged_prompts(_probe),
        params:
            probe=_probe,
            stage="judging",
            settings=stage_settings(_probe),
            cache=judging_cache(_probe),
        log:
            f"results/logs/judging/{_probe}.log",
        benchmark:
            f"results/benchmarks/judging/{_probe}.tsv"
        threads: config["threads"]["evaluate"]
        resources:
            # the judge model's GPU; an API judge requests none
            **({"gpu": 1} if judging_local(_probe) else {}),
            mem_mb=6000,
        conda:
            "../../envs/gpu.yaml"
        script:
            "../scripts/stage.py"
