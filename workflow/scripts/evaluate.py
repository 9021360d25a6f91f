from alignshift import jobs

spec = snakemake.params.model
probes = snakemake.params.probes
with jobs.logged(snakemake.log[0]):
    jobs.evaluate(
        model_spec=spec,
        probe_specs=probes,
        manifest_path=snakemake.input.manifest,
        data_paths={name: path for name, path in snakemake.input.items() if name not in ("manifest", "adapters")},
        outputs={probe: snakemake.output[0] if len(probes) == 1 else snakemake.output[probe] for probe in probes},
        adapter=spec["adapter"],
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        max_batch_tokens=snakemake.resources.max_batch_tokens or None,
        cache_dir=snakemake.params.cache,
    )
