from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    # the job's own environment's versions; params.versions, snakemake's, only make an
    # upgrade rerun this job
    jobs.report_versions(snakemake.output[0])
