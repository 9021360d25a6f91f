from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.analyze(snakemake.wildcards.probe, snakemake.config, list(snakemake.input), snakemake.output[0],
                 seed=snakemake.params.seed)
