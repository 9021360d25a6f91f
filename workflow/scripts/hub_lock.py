from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.hub_lock(snakemake.output[0], list(snakemake.input.models), list(snakemake.input.datasets))
