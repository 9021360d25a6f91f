from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.reference_orders(snakemake.params.probe, snakemake.params.spec, snakemake.input.models,
                          list(snakemake.input.scores), snakemake.input.orders, dict(snakemake.output.items()))
