# The `cfmatch` stage of a probe that declares it and enables it (extractive_qa, the
# paper's TyDiQA metric): the classifier is fetched once at a pinned commit, then every
# model's answers are judged in CFMatch's own environment (run with --use-conda; see
# envs/cfmatch.yaml).
from alignshift import cfmatch as cfmatch_classifier


def cfmatch_commit(probe):
    return stage_settings(probe).get("commit") or cfmatch_classifier.DEFAULT_COMMIT


# the qa-metrics version (its feature code) picks the environment; one per study
_qa_metrics = {stage_settings(p).get("qa_metrics") or cfmatch_classifier.DEFAULT_QA_METRICS
               for p in stage_probes("cfmatch")} or {cfmatch_classifier.DEFAULT_QA_METRICS}
if len(_qa_metrics) > 1 or not _qa_metrics <= set(cfmatch_classifier.ENVIRONMENTS):
    raise ValueError(f"cfmatch.qa_metrics: {sorted(_qa_metrics)}: one of {sorted(cfmatch_classifier.ENVIRONMENTS)} "
                     "for the whole study")
CFMATCH_ENV = "../../" + cfmatch_classifier.ENVIRONMENTS[_qa_metrics.pop()]


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
        CFMATCH_ENV
    script:
        "../scripts/cfmatch.py"
