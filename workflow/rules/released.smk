# Models scored by their authors (a model with a `released` field): each probe's score
# table is converted from the authors' released per-model outputs, downloaded at run
# time at the study's pinned commit (top-level `released`) with every file's sha256
# checked (alignshift.data.released). Everything downstream (cfmatch, analyze, the
# probes' tables, figures) is what every study runs.
from alignshift.data import released as released_outputs

RELEASED_SOURCE = released_outputs.settings(config.get("released"))
if RELEASED and RELEASED_SOURCE["format"] not in released_outputs.CONVERTERS:
    raise ValueError(f"released.format: unknown format {RELEASED_SOURCE['format']!r}; "
                     f"known: {sorted(released_outputs.CONVERTERS)}")
for _model in RELEASED:
    for _probe in (REGISTRY[_model].released.get("files") or {}):
        if _probe not in PROBES:
            raise ValueError(f"models.{_model}.released.files.{_probe}: not a probe of this study; known: {PROBES}")


def released_inputs(wildcards):
    """The study's prepared datasets a probe's converter reads (e.g. `countries`: the
    ranking is among the study's countries)."""
    return {name: dataset_path(name) for name in released_outputs.needs(config.get("released"), wildcards.probe)}


rule released_scores:
    wildcard_constraints:
        model=one_of(RELEASED),
    input:
        unpack(released_inputs),
    output:
        "results/scores/{model}/{probe}.parquet",
    params:
        entry=lambda w: REGISTRY[w.model].released,
        source=RELEASED_SOURCE,
        spec=lambda w: PROBE_SPECS[w.probe],
    log:
        "results/logs/released_scores/{model}/{probe}.log",
    benchmark:
        "results/benchmarks/released_scores/{model}/{probe}.tsv"
    # downloads the released files (seconds to convert): where the internet is
    localrule: True
    resources:
        downloads=1,
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/released_scores.py"
