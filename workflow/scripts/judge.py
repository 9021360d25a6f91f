from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.judge(snakemake.params.judging, snakemake.input.get("manifest"), list(snakemake.input.answers),
               snakemake.output.scores, snakemake.params.cache, threads=snakemake.threads,
               prompts_out=snakemake.output.prompts)
