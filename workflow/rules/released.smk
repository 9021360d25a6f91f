# Models scored by their authors (a model with a `released` field): the score table is
# converted from the released per-prompt outputs, downloaded at run time at the study's
# pinned commit with every file's sha256 checked (alignshift.data.released). The
# analysis and figures downstream are the rules every study uses.
RELEASED_SOURCE = config.get("released") or {}
if RELEASED and RELEASED_SOURCE.get("probe", "country_pairs") not in PROBES:
    raise ValueError(f"released.probe: {RELEASED_SOURCE.get('probe', 'country_pairs')!r} is not a probe of this study")


rule released_scores:
    wildcard_constraints:
        model=one_of(RELEASED),
    output:
        f"results/scores/{{model}}/{RELEASED_SOURCE.get('probe', 'country_pairs')}.parquet",
    params:
        entry=lambda w: REGISTRY[w.model].extra["released"],
        source=RELEASED_SOURCE,
        probe=RELEASED_SOURCE.get("probe", "country_pairs"),
    log:
        "results/logs/released_scores/{model}.log",
    benchmark:
        "results/benchmarks/released_scores/{model}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/released_scores.py"
