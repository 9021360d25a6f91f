# CFMatch for extractive_qa (the paper's TyDiQA metric), when `cfmatch.enabled`: the
# classifier is fetched once at a pinned commit, then every model's answers are judged
# in CFMatch's own environment (run with --use-conda; see envs/cfmatch.yaml).


rule cfmatch_classifier:
    output:
        provenance=f"resources/cfmatch/{CFMATCH_COMMIT}/classifier.json",
        classifier=f"resources/cfmatch/{CFMATCH_COMMIT}/lr_classifier.pkl",
        vectorizer=f"resources/cfmatch/{CFMATCH_COMMIT}/tf-idf_vectorizer.pkl",
    params:
        commit=CFMATCH_COMMIT,
    log:
        "results/logs/cfmatch/classifier.log",
    benchmark:
        "results/benchmarks/cfmatch/classifier.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/fetch_cfmatch.py"


rule cfmatch:
    input:
        scores="results/scores/{model}/extractive_qa.parquet",
        classifier=rules.cfmatch_classifier.output.provenance,
    output:
        "results/scores/{model}/extractive_qa_cfmatch.parquet",
    log:
        "results/logs/cfmatch/{model}.log",
    benchmark:
        "results/benchmarks/cfmatch/{model}.tsv"
    conda:
        "../../envs/cfmatch.yaml"
    script:
        "../scripts/cfmatch.py"
