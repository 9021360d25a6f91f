# The `judging` stage of a probe that declares it (the judge probe): every model's answers
# (from the evaluation jobs) scored by the judge, once for the study, into one table
# (results/scores/<probe>.judging.parquet: the study's models are known only once its
# runs are planned): a registry model loaded once on a GPU (backend `local`: rule
# judging_<probe>), or an OpenAI-compatible endpoint (backend `openai`, no model to fetch,
# no GPU: rule judging_<probe>_api, which a cluster profile sends to its CPU partition).
# Judge scores are cached per prompt, so a new checkpoint's answers cost only their own
# scoring.


def judging_inputs(probe):
    settings = stage_settings(probe)
    inputs = {"answers": scores(probe)}
    if settings.get("backend", "local") == "local":
        inputs["manifest"] = manifest(settings["model"])
    return inputs


def judging_local(probe):
    return stage_settings(probe).get("backend", "local") == "local"


def judging_cache(probe):
    settings = stage_settings(probe)
    if settings.get("backend", "local") == "openai":
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str((settings.get("api") or {}).get("model")))
        return f"results/cache/judging/api-{name}.jsonl"
    return f"results/cache/judging/{settings['model']}.jsonl"


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
