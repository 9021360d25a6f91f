from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.filter_posts(snakemake.wildcards.synth, snakemake.params.entry, snakemake.params.teacher,
                      snakemake.input.manifest, snakemake.input.posts, snakemake.output[0], snakemake.params.cache,
                      threads=snakemake.threads)
