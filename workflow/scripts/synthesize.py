from alignshift import jobs, synthesis

with jobs.logged(snakemake.log[0]):
    jobs.set_threads(snakemake.threads)
    synthesis.run_synthesis(snakemake.wildcards.synth, snakemake.params.entry, snakemake.params.teacher,
                            snakemake.input.manifest, snakemake.input.filtered, snakemake.output[0],
                            cache_dir=snakemake.params.cache, out_phase1=snakemake.output.phase1)
