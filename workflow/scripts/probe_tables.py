from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.probe_tables(snakemake.params.probe, snakemake.params.spec, snakemake.input.models,
                      list(snakemake.input.scores), dict(snakemake.output.items()), seed=snakemake.params.seed)
