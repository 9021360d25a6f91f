from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.finetune(
        run_name=snakemake.wildcards.run,
        run=snakemake.params.run,
        recipe=snakemake.params.recipe,
        manifest_path=snakemake.input.manifest,
        base_spec=snakemake.params.base,
        data_path=snakemake.input.data,
        plan_path=snakemake.input.plan,
        out_dir=snakemake.output.adapters,
        out_log=snakemake.output.record,
        threads=snakemake.threads,
    )
