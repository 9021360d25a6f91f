# The `cfmatch` stage of a probe that declares it and enables it (extractive_qa, the
# paper's TyDiQA metric): the classifier is fetched once at a pinned commit, then every
# model's answers are judged in CFMatch's own environment (run with --use-conda; see
# envs/cfmatch.yaml).
from alignshift import cfmatch as cfmatch_classifier


def cfmatch_commit(probe):
    return stage_settings(probe).get("commit") or cfmatch_classifier.DEFAULT_COMMIT


rule cfmatch_classifier:
    wildcard_constraints:
        commit="[0-9a-zA-Z_-]+",
    output:
        provenance="resources/cfmatch/{commit}/classifier.json",
        classifier="resources/cfmatch/{commit}/lr_classifier.pkl",
        vectorizer="resources/cfmatch/{commit}/tf-idf_vectorizer.pkl",
    log:
        "results/logs/cfmatch/classifier-{commit}.log",
    benchmark:
        "results/benchmarks/cfmatch/classifier-{commit}.tsv"
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
