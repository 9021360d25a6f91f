from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.released_scores(snakemake.wildcards.model, snakemake.wildcards.probe, snakemake.params.entry,
                         snakemake.params.source, snakemake.params.spec, dict(snakemake.input.items()),
                         snakemake.output[0])
