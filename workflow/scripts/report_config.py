from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.report_config(snakemake.params.config, snakemake.output[0])
