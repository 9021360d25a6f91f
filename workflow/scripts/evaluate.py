from alignshift import jobs

spec = snakemake.params.model
with jobs.logged(snakemake.log[0]):
    jobs.evaluate(
        model_spec=spec,
        probe=snakemake.wildcards.probe,
        spec=snakemake.params.spec,
        manifest_path=snakemake.input.manifest,
        data_paths=snakemake.params.datasets,
        out=snakemake.output[0],
        adapter=spec["adapter"],
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        max_batch_tokens=snakemake.resources.max_batch_tokens or None,
    )
