from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.write_model_table(snakemake.params.models, snakemake.output[0])
