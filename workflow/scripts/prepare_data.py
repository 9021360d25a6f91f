from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.prepare_data(snakemake.wildcards.dataset, snakemake.params.source, snakemake.output[0],
                      lock=snakemake.params.lock)
