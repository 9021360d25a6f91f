"""CFMatch: the classifier download is pinned and checked; answers are judged by
qa-metrics in CFMatch's own environment (built here from envs/cfmatch.yaml's pins)."""

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml

from alignshift import cfmatch
from alignshift.provenance import read_provenance, write_table
from conftest import REPO, model_table


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
    assert provenance["sha256"]["tf-idf_vectorizer.pkl"] == cfmatch.sha256(tmp_path / "out" / "tf-idf_vectorizer.pkl")
    assert json.loads((tmp_path / "out" / "classifier.json").read_text()) == provenance


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
