from alignshift import jobs, provenance

with jobs.logged(snakemake.log[0]):
    provenance.write_study_config(snakemake.params.config, snakemake.output[0])
