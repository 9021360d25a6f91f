# Target `downloads`: every download of the study and nothing else (the jobs of the rules
# that declare a `downloads` resource, all local rules), e.g.
#   snakemake downloads --profile profiles/slurm --configfile config/studies/<study>.yaml
# on a cluster's login node, to have every input in place before the first job is
# submitted. A plain run makes the same downloads on its way; tests/test_cluster_use.py
# checks that this target plans exactly the downloads of the study's full plan.


rule downloads:
    input:
        [manifest(name) for name in FETCHED],
        [dataset_path(name) for name in DOWNLOADED_DATASETS],
        [f"results/scores/{model}/{probe}.parquet" for model in RELEASED for probe in PROBES],
        # what the later stages' own download rules make (CFMatch's classifier)
        stage_downloads(),
