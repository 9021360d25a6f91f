from alignshift import jobs, provenance

with jobs.logged(snakemake.log[0]):
    # the job's own environment's versions (its conda env under --use-conda); params.versions,
    # snakemake's, only make an upgrade rerun this job
    provenance.write_versions(provenance.library_versions(), snakemake.output[0])
