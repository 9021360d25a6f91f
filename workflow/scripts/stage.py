from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.run_stage(snakemake.params.probe, snakemake.params.stage, snakemake.params.settings,
                   dict(snakemake.input.items()), dict(snakemake.output.items()), snakemake.params.cache,
                   threads=snakemake.threads)
