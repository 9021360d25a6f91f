# The judge probe's second stage: every model's answers (from the evaluation jobs) scored
# by the judge model, loaded once for the study. Judge scores are cached per prompt, so
# a new checkpoint's answers cost only their own scoring.


if JUDGING:

    rule judge:
        input:
            answers=scores("judge"),
            manifest=lambda w: manifest(JUDGING["model"]),
        output:
            scores("judge_scored"),
        params:
            judging=JUDGING,
            cache=lambda w: f"results/cache/judge/{JUDGING['model']}.jsonl",
        log:
            "results/logs/judge.log",
        benchmark:
            "results/benchmarks/judge.tsv"
        threads: config["threads"]["evaluate"]
        resources:
            gpu=1,
            mem_mb=6000,
        conda:
            "../../envs/gpu.yaml"
        script:
            "../scripts/judge.py"
