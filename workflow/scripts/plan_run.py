from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.plan_run(
        run_name=snakemake.wildcards.run,
        run=snakemake.params.run,
        recipe=snakemake.params.recipe,
        data_path=snakemake.input.data,
        out=snakemake.output[0],
    )
