from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.analyze(snakemake.wildcards.probe, snakemake.params.spec, snakemake.input.models,
                 list(snakemake.input.scores), snakemake.output[0], seed=snakemake.params.seed)
