# The `judging` stage of a probe that declares it (the judge probe): every model's answers
# (from the evaluation jobs) scored by the judge, once for the study, into one table
# (results/scores/<probe>.judging.parquet: the study's models are known only once its
# runs are planned): a registry model loaded once (backend `local`), or an
# OpenAI-compatible endpoint (backend `openai`, no model to fetch). Judge scores are
# cached per prompt, so a new checkpoint's answers cost only their own scoring.


def judging_inputs(probe):
    settings = stage_settings(probe)
    inputs = {"answers": scores(probe)}
    if settings.get("backend", "local") == "local":
        inputs["manifest"] = manifest(settings["model"])
    return inputs


def judging_cache(probe):
    settings = stage_settings(probe)
    if settings.get("backend", "local") == "openai":
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str((settings.get("api") or {}).get("model")))
        return f"results/cache/judging/api-{name}.jsonl"
    return f"results/cache/judging/{settings['model']}.jsonl"


for _probe in stage_probes("judging"):

    rule:
        name:
            f"judging_{_probe}"
        input:
            unpack(lambda w, probe=_probe: judging_inputs(probe)),
        output:
            scores=judged_scores(_probe),
            # the prompts the judge saw (joined to the scores by judge_prompt_hash)
            prompts=judged_prompts(_probe),
        params:
            judging=stage_settings(_probe),
            cache=judging_cache(_probe),
        log:
            f"results/logs/judging/{_probe}.log",
        benchmark:
            f"results/benchmarks/judging/{_probe}.tsv"
        threads: config["threads"]["evaluate"]
        resources:
            # an API judge needs no GPU here
            gpu=int(stage_settings(_probe).get("backend", "local") == "local"),
            mem_mb=6000,
        conda:
            "../../envs/gpu.yaml"
        script:
            "../scripts/judge.py"
