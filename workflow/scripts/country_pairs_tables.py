from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.country_pairs_tables(snakemake.config, list(snakemake.input), dict(snakemake.output.items()),
                              seed=snakemake.params.seed)
