from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.judge(snakemake.params.judging, snakemake.input.get("manifest"), list(snakemake.input.answers),
               list(snakemake.output.scores), snakemake.params.cache, threads=snakemake.threads,
               prompt_outputs=list(snakemake.output.prompts))
