from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.rank_correlation(snakemake.input[0], snakemake.output[0])
