from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.judge(snakemake.params.judging, snakemake.input.get("manifest"), list(snakemake.input.answers),
               snakemake.output[0], snakemake.params.cache, threads=snakemake.threads)
