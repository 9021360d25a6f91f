from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.synthesize(snakemake.wildcards.synth, snakemake.params.entry, snakemake.params.teacher,
                    snakemake.input.manifest, snakemake.input.filtered, snakemake.output[0], snakemake.output.phase1,
                    snakemake.params.cache, threads=snakemake.threads)
