from alignshift import jobs, synthesis

with jobs.logged(snakemake.log[0]):
    jobs.set_threads(snakemake.threads)
    synthesis.run_filter(snakemake.wildcards.synth, snakemake.params.entry, snakemake.params.teacher,
                         snakemake.input.manifest, snakemake.input.posts, snakemake.output[0],
                         cache=snakemake.params.cache)
