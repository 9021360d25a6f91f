from alignshift import jobs

model = snakemake.params.model
probes = snakemake.params.probes
# one job per model: outputs <probe> and prompts_<probe>; one per probe: scores and prompts
outputs = dict(snakemake.output.items())
with jobs.logged(snakemake.log[0]):
    jobs.evaluate(
        model_spec=model,
        probe_specs=probes,
        manifest_path=snakemake.input.manifest,
        data_paths={name: path for name, path in snakemake.input.items() if name not in ("manifest", "adapters")},
        outputs={probe: outputs.get(probe) or outputs["scores"] for probe in probes},
        prompt_outputs={probe: outputs.get(f"prompts_{probe}") or outputs["prompts"] for probe in probes},
        adapter=model["adapter"],
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        max_batch_tokens=snakemake.resources.max_batch_tokens or None,
        cache_dir=snakemake.params.cache,
    )
