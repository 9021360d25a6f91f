# The `cfmatch` stage of a probe that declares it and enables it (extractive_qa, the
# paper's TyDiQA metric): the classifier is fetched once at a pinned commit (or copied
# from a local directory, `cfmatch.classifier`), then every model's answers are judged
# in CFMatch's own environment (--use-conda: envs/cfmatch.yaml), or, without conda, in
# the Python that runs snakemake if qa-metrics is installed there: a run stops before
# any job when a cfmatch job is due and it is not.
from snakemake.logging import logger

# commit -> the local directory its classifier files are copied from (None: downloaded)
CFMATCH_LOCAL = {}
for _probe in stage_probes("cfmatch"):
    _commit, _local = cfmatch_commit(_probe), stage_settings(_probe).get("classifier")
    if CFMATCH_LOCAL.setdefault(_commit, _local) != _local:
        raise ValueError(f"probes.{_probe}.cfmatch.classifier: {_local!r}, but another probe takes commit "
                         f"{_commit}'s classifier from {CFMATCH_LOCAL[_commit]!r}")


rule cfmatch_classifier:
    wildcard_constraints:
        commit="[0-9a-zA-Z_-]+",
    input:
        cfmatch_local_files,
    output:
        provenance="resources/cfmatch/{commit}/classifier.json",
        classifier="resources/cfmatch/{commit}/lr_classifier.pkl",
        vectorizer="resources/cfmatch/{commit}/tf-idf_vectorizer.pkl",
    params:
        local=lambda w: CFMATCH_LOCAL.get(w.commit),
    log:
        "results/logs/cfmatch/classifier-{commit}.log",
    benchmark:
        "results/benchmarks/cfmatch/classifier-{commit}.tsv"
    # downloads from GitHub (without a local classifier): where the internet is
    localrule: True
    resources:
        downloads=1,
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/fetch_cfmatch.py"


rule cfmatch:
    input:
        scores="results/scores/{model}/{probe}.parquet",
        classifier=lambda w: f"resources/cfmatch/{cfmatch_commit(w.probe)}/classifier.json",
    output:
        "results/scores/{model}/{probe}.cfmatch.parquet",
    log:
        "results/logs/cfmatch/{model}/{probe}.log",
    benchmark:
        "results/benchmarks/cfmatch/{model}/{probe}.tsv"
    conda:
        "../../envs/cfmatch.yaml"
    script:
        "../scripts/cfmatch.py"


if cfmatch_runs_without_conda() and workflow.is_main_process:
    _problem = cfmatch_classifier.requirements_problem()
    if _problem:
        # a dry run shows it; a real run stops below if a cfmatch job is due
        logger.warning(cfmatch_classifier.requirements_message(_problem))


START_CHECKS.append(cfmatch_unable)
