# PoliTune, data selection: a teacher model reads every post under the ideology's
# prompt; protocol paper: its grade 0..3 (the most probable reply "0".."3") in
# `keep_grades` keeps the post; protocol project: the calibrated probability of "Yes"
# (from its log-probs of " Yes" / " No") above `threshold` does.
SYNTH = config.get("synthesis") or {}
# a synthesized set is written where datasets are (results/data/<name>.parquet)
if set(SYNTH) & set(config["datasets"]):
    raise ValueError(f"synthesis names {sorted(set(SYNTH) & set(config['datasets']))} are also dataset names")
for _name, _entry in SYNTH.items():
    for _key in ("teacher", "posts"):
        _known = REGISTRY if _key == "teacher" else config["datasets"]
        if _entry[_key] not in _known:
            raise ValueError(f"synthesis.{_name}.{_key}: {_entry[_key]!r} is not in the config's "
                             f"{'models' if _key == 'teacher' else 'datasets'}")


wildcard_constraints:
    synth=one_of(SYNTH),


rule filter_posts:
    input:
        manifest=lambda w: manifest(SYNTH[w.synth]["teacher"]),
        posts=lambda w: available_dataset(SYNTH[w.synth]["posts"]),
    output:
        "results/synthesis/{synth}/filtered.parquet",
    params:
        entry=lambda w: SYNTH[w.synth],
        teacher=lambda w: REGISTRY[SYNTH[w.synth]["teacher"]].to_dict(),
        cache=lambda w: f"results/cache/synthesis/{w.synth}/filter.jsonl",
    log:
        "results/logs/filter_posts/{synth}.log",
    benchmark:
        "results/benchmarks/filter_posts/{synth}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../../envs/gpu.yaml"
    script:
        "../scripts/filter_posts.py"
