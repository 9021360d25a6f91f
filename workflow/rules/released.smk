# Models scored by their authors (a model with a `released` field): each probe's score
# table is converted from the authors' released per-model outputs, downloaded at run
# time at the study's pinned commit (top-level `released`) with every file's sha256
# checked (alignshift.data.released), converted by each probe's converter
# (probes/<name>/released.py). Everything downstream (cfmatch, analyze, the
# probes' tables, figures) is what every study runs.
from alignshift.data import released as released_outputs

RELEASED_SOURCE = released_outputs.settings(config.get("released"))
if RELEASED and RELEASED_SOURCE["format"] not in probe_converters.formats(probes.available()):
    raise ValueError(f"released.format: unknown format {RELEASED_SOURCE['format']!r}; "
                     f"known: {sorted(probe_converters.formats(probes.available()))}")
for _model in RELEASED:
    for _probe in (REGISTRY[_model].released.get("files") or {}):
        if _probe not in PROBES:
            raise ValueError(f"models.{_model}.released.files.{_probe}: not a probe of this study; known: {PROBES}")


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
