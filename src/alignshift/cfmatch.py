"""CFMatch (Li et al. 2024), the answer-equivalence metric the paper scores TyDiQA with.

The judgement is qa-metrics' own `CFMatcher`: a linear classifier over TF-IDF features
of "[CLS] answer [SEP] gold [SEP] question [SEP]" plus the answer's token F1, precision
and recall against each gold answer. Two columns are written: `cfmatch_score`, the
largest probability of "correct" over the gold answers (`CFMatcher.get_score(gold,
answer, question)`; the paper's TyDiQA score is 100 x its mean), and `cfmatch`, 1.0 if
`cf_match` classifies any gold answer's pair "correct".

The result depends on the classifier, which the package downloads from its repository's
master branch on first use and which was retrained several times in 2024:
`cfmatch.commit` pins one. The paper's text numbers need the classifier of commit
8c7ef09f (on master from 2024-01-21 to 2024-02-26, what qa-metrics 0.1.27-0.1.31
fetched then: `PAPER_COMMIT`); the package's CFMatcher and feature code are the same
in 0.1.31 and 0.1.42 (envs/cfmatch.yaml), so only the classifier differs.

Two things keep it out of the main environment: qa-metrics pins scikit-learn 1.3.2,
which needs numpy < 2 (the stack pins numpy 2.x), and its classifier is not in the
wheel but fetched from the package's GitHub repository at run time. So the `cfmatch`
rule runs in its own environment (envs/cfmatch.yaml; without --use-conda, in the
Python that runs snakemake, if qa-metrics is installed there: `requirements_problem`
says what is missing, and the workflow stops before any job when a cfmatch job is due
and it is), and the classifier is downloaded by its own rule at a pinned commit into
resources/, or copied from a local directory (`cfmatch.classifier`), its sha256 checked
and recorded. This module imports only pandas, pyarrow and qa-metrics' dependencies, so
it runs there.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import urllib.request
from pathlib import Path

log = logging.getLogger("alignshift")

# the classifier qa-metrics 0.1.42 downloaded on its release day (2024-03-30); the
# paper does not say which one it used (see config/README.md)
DEFAULT_COMMIT = "c82d23f92c77dea67f3075bf53e69e1014c4bc79"
# the classifier the paper's TyDiQA numbers need (on master Jan 21 - Feb 26 2024)
PAPER_COMMIT = "8c7ef09f36960ac78e9515bb9455833595559152"
URL = "https://github.com/zli12321/qa_metrics/raw/{commit}/qa_metrics/classifier/{name}"
# local file name -> name in the repository (what CFMatcher itself downloads)
FILES = {"lr_classifier.pkl": "lr_classifier", "tf-idf_vectorizer.pkl": "tf-idf_vectorizer"}
KNOWN_SHA256 = {
    DEFAULT_COMMIT: {
        "lr_classifier.pkl": "8ec625ee80ac926d7654ba42c24224e1b734beaf16d7a17fb824a66748e4b0ef",
        "tf-idf_vectorizer.pkl": "cf9e0a7c6ebc3572fb626c68e7d26c6410229f660d908a5b7983e6dd6d01aff2",
    },
    PAPER_COMMIT: {
        "lr_classifier.pkl": "8e2ecbf8b31e2319c60fe1b47e1dc8cf6b4f2065529ae02476cbd23b3139849d",
        "tf-idf_vectorizer.pkl": "b5d8bb6b2a8748420c1e17771812136caf0ac4659e4d37661bcb307269a36491",
    },
}


def classifier_commit(settings: dict) -> str:
    """The commit of the classifier a probe's `cfmatch` settings pin (null: DEFAULT_COMMIT)."""
    return settings.get("commit") or DEFAULT_COMMIT


def classifier_record(commit: str) -> str:
    """Where rule cfmatch_classifier writes a commit's classifier files' provenance
    (classifier.json, the files beside it): the input of the cfmatch jobs."""
    return f"resources/cfmatch/{commit}/classifier.json"


def local_files(directory: str | Path) -> dict[str, Path]:
    """The classifier files in a local directory, local name -> path: each under its
    local name (`lr_classifier.pkl`) or its repository name (`lr_classifier`, as in a
    checkout's `qa_metrics/classifier/`)."""
    directory = Path(directory).expanduser()
    found = {}
    for local, remote in FILES.items():
        candidates = [directory / local, directory / remote]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"cfmatch.classifier: {directory} has no {local} (or {remote}); it needs "
                                    f"both {' and '.join(FILES)} of the classifier's commit")
        found[local] = path
    return found


def _known_commit(digest: str) -> str | None:
    return next((c for c, files in KNOWN_SHA256.items() if digest in files.values()), None)


def fetch_classifier(commit: str, out_dir: str | Path, url: str = URL, local: str | Path | None = None) -> dict:
    """Download the classifier files of `commit` into `out_dir` (or copy them from the
    directory `local`) and write their provenance (`classifier.json`). A file whose
    sha256 differs from the one known for the commit is an error, and nothing is left
    behind."""
    import shutil

    from .provenance import sha256_file  # pandas, pyarrow: not needed where CFMatch judges

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = KNOWN_SHA256.get(commit, {})
    sources = local_files(local) if local else {name: url.format(commit=commit, name=remote)
                                                for name, remote in FILES.items()}
    digests = {}
    for name, source in sources.items():
        tmp = out_dir / f".{name}.part"
        if local:
            shutil.copyfile(source, tmp)
        else:
            with urllib.request.urlopen(source, timeout=120) as response:
                tmp.write_bytes(response.read())
        digests[name] = sha256_file(tmp)
        if name in expected and digests[name] != expected[name]:
            tmp.unlink()
            other = _known_commit(digests[name])
            hint = (f"; it is the file of commit {other}: set cfmatch.commit to it" if other else
                    "; set cfmatch.commit to the commit these files come from")
            raise ValueError(f"CFMatch classifier {source}: sha256 {digests[name]} is not the pinned "
                             f"{expected[name]} of commit {commit}{hint if local else ''}")
        tmp.replace(out_dir / name)
        log.info("CFMatch classifier: %s -> %s (sha256 %s)", source, out_dir / name, digests[name])
    if not expected:
        log.warning("CFMatch classifier of commit %s: no known sha256 to check against; recorded %s", commit, digests)
    provenance = {"commit": commit, "sha256": digests,
                  **({"local": str(Path(local).expanduser().resolve())} if local else {"url": url})}
    (out_dir / "classifier.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


# what the `cfmatch` rule imports (envs/cfmatch.yaml's pins); pip name -> module
PACKAGES = {"qa-metrics": "qa_metrics", "scikit-learn": "sklearn", "joblib": "joblib", "scipy": "scipy"}
INSTALL = "pip install qa-metrics==0.1.42 scikit-learn==1.3.2 'numpy<2'"


def requirements_problem() -> str | None:
    """Why the `cfmatch` rule cannot run in this Python (None when it can): a package it
    imports is missing, or qa-metrics' pinned scikit-learn is not the installed one."""
    import importlib.metadata as md
    import importlib.util

    missing = [name for name, module in PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in {sys.executable}"
    # qa-metrics pins scikit-learn exactly ("scikit-learn (==1.3.2)"); the classifier is
    # a pickle of that version
    pins = [m.group(1) for r in md.requires("qa-metrics") or []
            if (m := re.match(r"scikit-learn\s*\(?\s*==\s*([^\s);]+)", r))]
    have = md.version("scikit-learn")
    if pins and have != pins[0]:
        return f"qa-metrics {md.version('qa-metrics')} needs scikit-learn=={pins[0]}, {sys.executable} has {have}"
    return None


def requirements_message(problem: str) -> str:
    """The error for `cfmatch` jobs that cannot run: what is missing and the three ways on."""
    return (f"CFMatch (rule cfmatch; probes.extractive_qa.cfmatch.enabled: true) cannot run: {problem}. "
            "Run snakemake with --use-conda (it builds CFMatch's environment, envs/cfmatch.yaml), or install its "
            f"packages in the Python that runs snakemake ({INSTALL}; scikit-learn 1.3.2 needs numpy < 2, so not "
            "beside the numpy 2 of constraints.txt), or set probes.extractive_qa.cfmatch.enabled: false to score "
            "TyDiQA by SQuAD F1 only.")


def matcher(classifier_dir: str | Path):
    """qa-metrics' CFMatcher on the pinned classifier files. Its own constructor fetches
    the newest classifier from GitHub into site-packages; the pinned one is used instead.
    Loading unpickles both files: they come from the pinned commit with checked sha256."""
    import joblib
    from qa_metrics.cfm import CFMatcher

    classifier_dir = Path(classifier_dir)
    cfm = CFMatcher.__new__(CFMatcher)
    cfm.model = joblib.load(classifier_dir / "lr_classifier.pkl")
    cfm.tokenizer = joblib.load(classifier_dir / "tf-idf_vectorizer.pkl")
    return cfm


def judge(scores_path: str | Path, classifier_dir: str | Path, out: str | Path) -> None:
    """Add `cfmatch_score` (the largest P(correct) over the gold answers) and `cfmatch`
    (1.0 correct, 0.0 not) to an extractive_qa score table."""
    import importlib.metadata as md

    import pandas as pd

    from .provenance import read_provenance, write_table

    problem = requirements_problem()
    if problem:
        raise RuntimeError(requirements_message(problem))
    scores = pd.read_parquet(scores_path)
    evaluated = read_provenance(scores_path)
    if not scores.empty and "question" not in scores:
        raise ValueError(f"{scores_path} has no `question` column (written before CFMatch support): "
                         "delete it and rerun its evaluation")
    if scores.empty:  # reward models have no extractive_qa rows
        verdicts, probabilities = [], []
    else:
        cfm = matcher(classifier_dir)
        rows = list(zip(scores["gold"], scores["answer"], scores["question"]))
        verdicts = [float(cfm.cf_match([str(g) for g in golds], answer, question)) for golds, answer, question in rows]
        probabilities = [max(float(cfm.get_score(str(g), answer, question)) for g in golds)
                         for golds, answer, question in rows]
    classifier = json.loads((Path(classifier_dir) / "classifier.json").read_text())
    provenance = {**{k: v for k, v in evaluated.items() if k != "versions"},
                  "evaluation_versions": evaluated.get("versions"),
                  "cfmatch": {**classifier, "qa_metrics": md.version("qa-metrics"),
                              "scikit_learn": md.version("scikit-learn")}}
    write_table(scores.assign(cfmatch=pd.Series(verdicts, index=scores.index, dtype=float),
                              cfmatch_score=pd.Series(probabilities, index=scores.index, dtype=float)), out, provenance)
    log.info("CFMatch: %d answers, %d correct -> %s", len(verdicts), int(sum(verdicts)), out)
