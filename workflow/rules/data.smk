rule fetch_model:
    output:
        "resources/models/{base}/manifest.json",
    params:
        spec=lambda w: REGISTRY[w.base].to_dict(),
        # the study's hub lock file, read only: the fetch follows its locked commit
        # (written by rule hub_lock, workflow/rules/hub_lock.smk)
        lock=config.get("hub_lock"),
    log:
        "results/logs/fetch_model/{base}.log",
    benchmark:
        "results/benchmarks/fetch_model/{base}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/fetch_model.py"


rule prepare_data:
    input:
        # a `manual: true` dataset (downloaded by hand, e.g. MD3) is an input only once it
        # is there, so a study plans before it is; the job names it if it is missing
        lambda w: dataset_input(config["datasets"][w.dataset]),
    output:
        "results/data/{dataset}.parquet",
    params:
        spec=lambda w: config["datasets"][w.dataset],
        # the study's hub lock file, read only: a hub dataset follows its locked commit
        # (written by rule hub_lock, workflow/rules/hub_lock.smk)
        lock=config.get("hub_lock"),
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/prepare_data.py"
