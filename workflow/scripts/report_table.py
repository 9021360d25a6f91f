from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.report_table(snakemake.input[0], snakemake.output[0])
