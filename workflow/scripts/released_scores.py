from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.released_scores(snakemake.wildcards.model, snakemake.params.entry, snakemake.params.source,
                         snakemake.output[0], probe=snakemake.params.probe)
