# The study's models, once: what every analysis and figure job knows of them (the
# checkpoints of runs planned from their data once their plans exist).
rule model_table:
    input:
        plans=lambda w: pending_plans(),
    output:
        MODEL_TABLE,
    params:
        # a changed registry (a model, a run, a lineage, a plan) rewrites it
        models=lambda w: reg.model_table(study_registry(), RUNS, reg.labels(config)).to_dict("records"),
    log:
        "results/logs/analyze/model_table.log",
    benchmark:
        "results/benchmarks/analyze/model_table.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/model_table.py"


# Per-probe metrics: each model's mean with a 95% bootstrap CI and its paired changes
# from its parent and base model (alignshift.probes.<probe>.metrics).
rule analyze:
    input:
        scores=lambda w: analysis_scores(w.probe),
        models=MODEL_TABLE,
    output:
        "results/metrics/{probe}.csv",
    params:
        # analysis settings reach the job as params: changing them reruns the analysis only
        spec=lambda w: SPECS[w.probe],
        seed=config["seed"],
        code=lambda w: probe_code(w.probe, "metrics"),
    log:
        "results/logs/analyze/{probe}.log",
    benchmark:
        "results/benchmarks/analyze/{probe}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/analyze.py"


# A probe's further tables (its spec's `tables`, e.g. the geopolitical pairs study's
# base -> chat shifts, or the model x model rank correlation): one job per probe.
for _probe in [p for p in PROBES if probe_tables(p)]:

    rule:
        name:
            f"tables_{_probe}"
        input:
            scores=lambda w, probe=_probe: analysis_scores(probe),
            models=MODEL_TABLE,
        output:
            **probe_tables(_probe),
        params:
            probe=_probe,
            spec=SPECS[_probe],
            seed=config["seed"],
            code=probe_code(_probe, "metrics"),
        log:
            f"results/logs/analyze/{_probe}_tables.log",
        benchmark:
            f"results/benchmarks/analyze/{_probe}_tables.tsv"
        conda:
            "../../envs/cpu.yaml"
        script:
            "../scripts/probe_tables.py"


# A probe's orders against reference orders (its spec's `analysis.reference_orders`, a
# dataset of the study): for country_rank, each model's country order against Gallup's
# US favourability rankings (the paper's table 3 and its Spearman 0.926 / 0.849), from
# the study's own scores.
for _probe in [p for p in PROBES if reference_orders(p)]:
    if reference_orders(_probe) not in config["datasets"]:
        raise ValueError(f"probes.{_probe}.analysis.reference_orders: {reference_orders(_probe)!r} is not a dataset "
                         f"of this study; known: {sorted(config['datasets'])}")

    rule:
        name:
            f"reference_orders_{_probe}"
        input:
            scores=lambda w, probe=_probe: analysis_scores(probe),
            models=MODEL_TABLE,
            orders=dataset_path(reference_orders(_probe)),
        output:
            correlation=f"results/metrics/{_probe}_reference.csv",
            ranks=f"results/metrics/{_probe}_reference_ranks.csv",
        params:
            probe=_probe,
            spec=SPECS[_probe],
            code=probe_code(_probe, "metrics"),
        log:
            f"results/logs/analyze/{_probe}_reference.log",
        benchmark:
            f"results/benchmarks/analyze/{_probe}_reference.tsv"
        conda:
            "../../envs/cpu.yaml"
        script:
            "../scripts/reference_orders.py"
