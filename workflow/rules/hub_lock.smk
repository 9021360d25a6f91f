# The study's hub lock file (config key `hub_lock`; alignshift.hub_lock): written by this
# one rule, from what the fetches (each model's manifest) and hub data preparations (each
# prepared table's provenance) recorded. Those jobs only read the lock file (their
# `lock` param), so a later run follows the committed lock. A local rule: it only reads
# and writes small files. `update`: the lock file is extended in place, never removed
# before the job runs (Snakemake restores it if the job fails).
from alignshift.data import hub as data_hub
from alignshift.models.spec import id_kind


# every hub model the study fetches, every hub dataset it prepares
HUB_LOCKED = {
    "models": [manifest(name) for name in FETCHED if id_kind(REGISTRY[name].id) == "hub"],
    "datasets": [dataset_path(name) for name, source in config["datasets"].items() if data_hub.hub_repo(source)],
}


if hub_lock_file():

    localrules:
        hub_lock,

    rule hub_lock:
        input:
            **HUB_LOCKED,
        output:
            update(config["hub_lock"]),
        log:
            "results/logs/hub_lock.log",
        benchmark:
            "results/benchmarks/hub_lock.tsv"
        conda:
            "../../envs/cpu.yaml"
        script:
            "../scripts/hub_lock.py"
