from alignshift import jobs, provenance

with jobs.logged(snakemake.log[0]):
    provenance.write_versions(snakemake.params.versions, snakemake.output[0])
