# CFMatch's classifier, which the `cfmatch` stage of a probe that declares and enables
# it reads (extractive_qa, the paper's TyDiQA metric; the stage's own rule is the generic
# one of workflow/rules/stages.smk): fetched once per pinned commit, or copied from a
# local directory (`cfmatch.classifier`). A rule of its own, outside the generic family:
# it makes a resource for the stage's jobs, keyed by commit (probes pinning the same
# commit share it), and is a local rule, as every download is (downloads run on the
# login node, where the internet is).

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
