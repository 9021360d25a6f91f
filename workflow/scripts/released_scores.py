from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    # one job: every probe of the model (`evaluation.job_per: model`), or one probe
    for probe, spec in snakemake.params.specs.items():
        out = getattr(snakemake.output, probe, None) or snakemake.output.scores
        jobs.released_scores(snakemake.wildcards.model, probe, snakemake.params.entry, snakemake.params.source, spec,
                             dict(snakemake.input.items()), out)
