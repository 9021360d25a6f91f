"""CFMatch: the classifier download is pinned and checked, a local copy is checked the
same way; answers are judged by qa-metrics in CFMatch's own environment (built here from
envs/cfmatch.yaml's pins); without --use-conda and without qa-metrics a run stops before
any job."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alignshift import cfmatch
from alignshift.provenance import read_provenance, sha256_file, write_table
from conftest import REPO, model_table, run_snakemake, write_config


def serve(tmp_path, files: dict[str, bytes]) -> str:
    """A file:// URL template serving `files` the way GitHub serves the repository."""
    for name, content in files.items():
        (tmp_path / "repo" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / name).write_bytes(content)
    return (tmp_path / "repo").as_uri() + "/{commit}/{name}"


def test_classifier_with_a_wrong_sha256_is_refused_and_not_kept(tmp_path):
    url = serve(tmp_path, {f"{cfmatch.DEFAULT_COMMIT}/{remote}": b"not the classifier"
                           for remote in cfmatch.FILES.values()})
    out = tmp_path / "resources"
    with pytest.raises(ValueError, match="sha256"):
        cfmatch.fetch_classifier(cfmatch.DEFAULT_COMMIT, out, url=url)
    assert list(out.iterdir()) == []


def test_the_papers_classifier_is_pinned_with_its_checksums():
    # the classifier on qa_metrics' master from 2024-01-21 to 2024-02-26, the one the
    # paper's TyDiQA numbers need
    assert cfmatch.PAPER_COMMIT.startswith("8c7ef09f")
    assert cfmatch.KNOWN_SHA256[cfmatch.PAPER_COMMIT]["lr_classifier.pkl"].startswith("8e2ecbf8")
    study = yaml.safe_load((REPO / "config" / "studies" / "global-representation-released.yaml").read_text())
    assert study["probes"]["extractive_qa"]["cfmatch"]["commit"] == cfmatch.PAPER_COMMIT


def test_classifier_of_another_commit_is_downloaded_and_recorded(tmp_path):
    commit = "0" * 40
    url = serve(tmp_path, {f"{commit}/lr_classifier": b"model", f"{commit}/tf-idf_vectorizer": b"vectorizer"})
    provenance = cfmatch.fetch_classifier(commit, tmp_path / "out", url=url)
    assert (tmp_path / "out" / "lr_classifier.pkl").read_bytes() == b"model"
    assert provenance["sha256"]["tf-idf_vectorizer.pkl"] == sha256_file(tmp_path / "out" / "tf-idf_vectorizer.pkl")
    assert json.loads((tmp_path / "out" / "classifier.json").read_text()) == provenance


def test_a_local_classifier_is_copied_under_either_name_and_recorded(tmp_path):
    # a checkout's qa_metrics/classifier/ names the files without .pkl
    local = tmp_path / "qa_metrics" / "classifier"
    local.mkdir(parents=True)
    (local / "lr_classifier").write_bytes(b"model")
    (local / "tf-idf_vectorizer.pkl").write_bytes(b"vectorizer")
    commit = "0" * 40  # no known checksums: copied and recorded
    provenance = cfmatch.fetch_classifier(commit, tmp_path / "out", url="http://127.0.0.1:9/{commit}/{name}",
                                          local=local)
    assert (tmp_path / "out" / "lr_classifier.pkl").read_bytes() == b"model"
    assert (tmp_path / "out" / "tf-idf_vectorizer.pkl").read_bytes() == b"vectorizer"
    assert provenance["local"] == str(local.resolve()) and "url" not in provenance
    assert provenance["sha256"]["lr_classifier.pkl"] == sha256_file(local / "lr_classifier")


def test_a_local_classifier_of_another_commit_is_refused_and_not_kept(tmp_path):
    local = tmp_path / "classifier"
    local.mkdir()
    for name in cfmatch.FILES:
        (local / name).write_bytes(b"retrained")
    with pytest.raises(ValueError, match=r"not the pinned 8ec625ee.* of commit c82d23f9.*set cfmatch\.commit"):
        cfmatch.fetch_classifier(cfmatch.DEFAULT_COMMIT, tmp_path / "out", local=local)
    assert list((tmp_path / "out").iterdir()) == []
    (local / "tf-idf_vectorizer.pkl").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no tf-idf_vectorizer\.pkl \(or tf-idf_vectorizer\)"):
        cfmatch.fetch_classifier("0" * 40, tmp_path / "out", local=local)


def cfmatch_study(tmp_path, **cfmatch_settings) -> Path:
    """A study with CFMatch on TyDiQA fixtures; its model is never loaded by these tests."""
    from global_fixtures import write_tydiqa

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(
        models={"tiny": {"id": str(tmp_path / "model"), "stage": "pt", "chat_template": True}},
        datasets={"tydiqa_dev": {"loader": "tydiqa_goldp", "split": "validation",
                                 "path": str(write_tydiqa(tmp_path / "tydiqa-dev.json", "dev"))},
                  "tydiqa_train": {"loader": "tydiqa_goldp", "split": "train",
                                   "path": str(write_tydiqa(tmp_path / "tydiqa-train.json", "train"))}},
        finetune={}, figures=[],
        probes={"extractive_qa": {"max_new_tokens": 4, "cfmatch": {"enabled": True, **cfmatch_settings}}})
    (tmp_path / "study").mkdir()
    write_config(tmp_path / "study", cfg)
    return tmp_path / "study"


def test_the_workflow_copies_a_local_classifier_without_a_download(tmp_path):
    local = tmp_path / "classifier"
    local.mkdir()
    for name, remote in cfmatch.FILES.items():
        (local / remote).write_bytes(remote.encode())
    commit = "5d1f0c2a9b8e7d6c5b4a39281706f5e4d3c2b1a0"  # not periodic: a {commit} wildcard value
    workdir = cfmatch_study(tmp_path, commit=commit, classifier=str(local))
    target = f"resources/cfmatch/{commit}/classifier.json"
    # no proxy answers: a download would fail
    result = run_snakemake(workdir, "--cores", "1", target, env={"HTTPS_PROXY": "http://127.0.0.1:9",
                                                                  "HTTP_PROXY": "http://127.0.0.1:9"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = workdir / "resources" / "cfmatch" / commit
    assert (out / "tf-idf_vectorizer.pkl").read_bytes() == b"tf-idf_vectorizer"
    assert json.loads((out / "classifier.json").read_text())["local"] == str(local.resolve())
    # the local files are the rule's input: a changed file copies again
    plan = run_snakemake(workdir, "-n", target)
    assert "cfmatch_classifier" not in plan.stdout
    (local / "lr_classifier").write_bytes(b"retrained")
    plan = run_snakemake(workdir, "-n", target)
    assert plan.returncode == 0 and re.search(r"^rule cfmatch_classifier:", plan.stdout, re.M), plan.stdout[-2000:]


@pytest.mark.skipif(cfmatch.requirements_problem() is None, reason="qa-metrics is installed in this Python")
def test_without_conda_and_qa_metrics_the_run_stops_before_any_job(tmp_path):
    workdir = cfmatch_study(tmp_path)
    assert "qa-metrics" in cfmatch.requirements_problem()
    # the plan says so
    plan = run_snakemake(workdir, "-n", "results/metrics/extractive_qa.csv")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "CFMatch (rule cfmatch" in plan.stderr + plan.stdout and "--use-conda" in plan.stderr + plan.stdout
    # the run refuses before its first job (the model's fetch, the data), naming the three ways on
    run = run_snakemake(workdir, "--cores", "1", "results/metrics/extractive_qa.csv")
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert "1 cfmatch job(s) are due (results/scores/tiny/extractive_qa.cfmatch.parquet" in log, log[-3000:]
    for way in ("--use-conda", "pip install qa-metrics==0.1.42 scikit-learn==1.3.2", "cfmatch.enabled: false"):
        assert way in log, way
    assert not (workdir / "results" / "logs").exists() and not (workdir / "resources").exists()
    # a job started anyway (another Python, a changed environment) stops at once with the same words
    with pytest.raises(RuntimeError, match="cannot run: .*--use-conda"):
        cfmatch.judge(tmp_path / "scores.parquet", tmp_path / "classifier", tmp_path / "out.parquet")
    # with CFMatch off the same study runs without it
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg["probes"]["extractive_qa"]["cfmatch"]["enabled"] = False
    write_config(workdir, cfg)
    plan = run_snakemake(workdir, "-n", "results/metrics/extractive_qa.csv")
    assert plan.returncode == 0 and "CFMatch (rule cfmatch" not in plan.stdout + plan.stderr


@pytest.fixture(scope="module")
def cfmatch_python(tmp_path_factory):
    """A virtual environment with exactly the pip pins of envs/cfmatch.yaml."""
    env = yaml.safe_load((REPO / "envs" / "cfmatch.yaml").read_text())
    pins = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    venv = tmp_path_factory.mktemp("cfmatch-env")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    result = subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return python


# A classifier in CFMatch's format (a TF-IDF vectorizer, a linear model over its features
# plus F1, precision and recall, classes "correct"/"incorrect"), trained on answers whose
# correctness is their token overlap with the gold answer. The real one is downloaded by
# the workflow and cannot be fetched here.
TRAIN_CLASSIFIER = textwrap.dedent("""
    import sys
    import joblib, numpy as np
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from qa_metrics.f1 import f1_score_with_precision_recall

    pairs = [("paris", "paris", "correct"), ("berlin", "paris", "incorrect"), ("1889", "1889", "correct"),
             ("1900", "1889", "incorrect"), ("river seine", "seine", "correct"), ("loire", "seine", "incorrect"),
             ("gustave eiffel", "eiffel", "correct"), ("napoleon", "eiffel", "incorrect")] * 5
    texts = [f"[CLS] {c} [SEP] {r} [SEP] q [SEP]" for c, r, _ in pairs]
    vectorizer = TfidfVectorizer().fit(texts)
    overlap = [[f1_score_with_precision_recall(r, c)[k] for k in ("f1", "precision", "recall")] for c, r, _ in pairs]
    features = hstack([vectorizer.transform(texts), np.array(overlap)])
    model = LogisticRegression(C=100).fit(features, [label for *_, label in pairs])
    joblib.dump(model, sys.argv[1] + "/lr_classifier.pkl")
    joblib.dump(vectorizer, sys.argv[1] + "/tf-idf_vectorizer.pkl")
""")


def test_answers_are_judged_by_qa_metrics_in_its_own_environment(cfmatch_python, tmp_path):
    classifier = tmp_path / "classifier"
    classifier.mkdir()
    subprocess.run([str(cfmatch_python), "-c", TRAIN_CLASSIFIER, str(classifier)], check=True)
    (classifier / "classifier.json").write_text(json.dumps({"commit": "fixture", "sha256": {}}))
    scores = pd.DataFrame({
        "model": "m", "item": ["q1", "q2", "q3", "q4", "q5"], "language": ["english"] * 4 + ["finnish"],
        "question": ["Where?", "When?", "Which river?", "Who?", "Where?"],
        "gold": [["Paris"], ["1889"], ["the Loire", "Seine river"], ["Gustave Eiffel"], ["Pariisi"]],
        "answer": ["Paris", "in 1900", "Seine river", "Napoleon", ""],
        "f1": [1.0, 0.0, 1.0, 0.0, 0.0]})
    write_table(scores, tmp_path / "extractive_qa.parquet", {"model": "m", "revision": "abc"})
    out = tmp_path / "extractive_qa_cfmatch.parquet"
    run = (f"import sys; sys.path.insert(0, {str(REPO / 'src')!r}); from alignshift import cfmatch; "
           f"cfmatch.judge({str(tmp_path / 'extractive_qa.parquet')!r}, {str(classifier)!r}, {str(out)!r})")
    result = subprocess.run([str(cfmatch_python), "-c", run], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    # where its pins are installed, the workflow's check finds nothing missing
    check = subprocess.run([str(cfmatch_python), "-c", f"import sys; sys.path.insert(0, {str(REPO / 'src')!r}); "
                            "from alignshift import cfmatch; print(cfmatch.requirements_problem())"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "None", check.stdout + check.stderr[-2000:]
    judged = pd.read_parquet(out)
    # row order kept; a second gold answer counts; an empty answer is wrong
    assert judged["cfmatch"].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    # the paper's score: the largest P(correct) over the gold answers; a pair is judged
    # correct when that probability is over 1/2
    assert judged["cfmatch_score"].between(0, 1).all()
    assert ((judged["cfmatch_score"] > 0.5) == (judged["cfmatch"] == 1.0)).all()
    assert judged["f1"].tolist() == scores["f1"].tolist()
    provenance = read_provenance(out)
    assert provenance["revision"] == "abc" and provenance["cfmatch"]["commit"] == "fixture"
    assert provenance["cfmatch"]["qa_metrics"] == "0.1.42" and provenance["cfmatch"]["scikit_learn"] == "1.3.2"


def test_analysis_reports_cfmatch_accuracy_before_f1():
    from alignshift.probes.extractive_qa import metrics as extractive_qa

    scores = pd.DataFrame({"model": ["base"] * 4 + ["chat"] * 4, "item": list("abcd") * 2,
                           "language": ["english"] * 8, "f1": [1, 0.5, 0, 0, 1, 1, 0.5, 0],
                           "em": [1, 0, 0, 0, 1, 1, 0, 0], "cfmatch": [1, 1, 0, 0, 1, 1, 1, 0]})
    table = extractive_qa.metrics(scores, model_table({"base": None, "chat": "base"}), {}, seed=0)
    assert table["measure"].unique().tolist() == ["cfmatch", "f1"]
    chat = table[table.model == "chat"].set_index("measure")
    assert chat.loc["cfmatch", "value"] == 0.75 and chat.loc["cfmatch", "delta"] == pytest.approx(0.25)
    assert chat.loc["f1", "value"] == 0.625 and chat.loc["f1", "em"] == 0.5
