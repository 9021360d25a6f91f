from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.fetch_model(snakemake.params.model, snakemake.output[0], lock=snakemake.params.lock)
