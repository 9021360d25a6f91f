# Models scored by their authors (a model with a `released` field): each probe's score
# table is converted from the authors' released per-model outputs, downloaded at run
# time at the study's pinned commit (top-level `released`) with every file's sha256
# checked (alignshift.data.released), converted by each probe's converter
# (probes/<name>/released.py). Everything downstream (cfmatch, analyze, the
# probes' tables, figures) is what every study runs.
from alignshift.data import released as released_outputs
from alignshift.probes import released_outputs as probe_converters

RELEASED_SOURCE = released_outputs.settings(config.get("released"))
if RELEASED and RELEASED_SOURCE["format"] not in probe_converters.formats(probes.available()):
    raise ValueError(f"released.format: unknown format {RELEASED_SOURCE['format']!r}; "
                     f"known: {sorted(probe_converters.formats(probes.available()))}")
for _model in RELEASED:
    for _probe in (REGISTRY[_model].released.get("files") or {}):
        if _probe not in PROBES:
            raise ValueError(f"models.{_model}.released.files.{_probe}: not a probe of this study; known: {PROBES}")


def released_inputs(wildcards):
    """The study's prepared datasets the job's probes' converters read (e.g. `countries`:
    the ranking is among the study's countries)."""
    names = {name for probe in evaluated_probes(wildcards)
             for name in probe_converters.needs(probe, config.get("released"))}
    return {name: dataset_path(name) for name in sorted(names)}


def released_outputs_of():
    """Like evaluation (`evaluation.job_per`): all of a model's probe tables in one job
    (one job per model: a study of 14 released models and 6 probes is 14 jobs, not 84), or
    one probe's per job."""
    if EVAL_PER_MODEL:
        return {probe: f"results/scores/{{model}}/{probe}.parquet" for probe in PROBES}
    return {"scores": "results/scores/{model}/{probe}.parquet"}


rule released_scores:
    wildcard_constraints:
        model=one_of(RELEASED),
    input:
        unpack(released_inputs),
    output:
        **released_outputs_of(),
    params:
        entry=lambda w: REGISTRY[w.model].released,
        source=RELEASED_SOURCE,
        specs=lambda w: {probe: PROBE_SPECS[probe] for probe in evaluated_probes(w)},
    log:
        f"results/logs/released_scores/{EVAL_JOB}.log",
    benchmark:
        f"results/benchmarks/released_scores/{EVAL_JOB}.tsv"
    # downloads the released files (seconds to convert): where the internet is
    localrule: True
    resources:
        downloads=1,
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/released_scores.py"
