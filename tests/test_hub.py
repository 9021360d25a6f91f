"""Hub models as huggingface_hub users expect: the standard cache (HF_HOME), offline
mode with the weights on disk, one copy of the weights, pinned revisions.

The hub cannot be reached here: the cache is laid out on disk the way huggingface_hub
lays it out (`models--org--name/{refs/main, snapshots/<commit>/, blobs/}`), and the two
hub calls (the repository's metadata and the download) are replaced by stand-ins that
record how they were called."""

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from alignshift.models import hub
from alignshift.models.fetch import fetch
from alignshift.models.spec import ModelLoadError, ModelSpec
from conftest import REPO, job_counts, run_snakemake

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
REPO_ID = "some-org/tiny-chat"
# the file listing of mistralai/Mistral-7B-v0.3: the weights twice (mistral's own
# consolidated.safetensors, 14.5 GB, and the transformers shards)
MISTRAL_FILES = [".gitattributes", "README.md", "config.json", "consolidated.safetensors", "generation_config.json",
                 "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                 "model-00003-of-00003.safetensors", "model.safetensors.index.json", "params.json",
                 "special_tokens_map.json", "tokenizer.json", "tokenizer.model", "tokenizer.model.v3",
                 "tokenizer_config.json"]


def lay_out_cache(hub_cache: Path, repo_id: str, commit: str, source: Path, ref: str | None = "main",
                  repo_type: str = "model") -> Path:
    """Put the files of `source` into a huggingface_hub cache as a snapshot of `commit`:
    content-addressed blobs, the snapshot's files (subfolders too) as relative symlinks
    to them, and `refs/<ref>` holding the commit. Returns the snapshot folder."""
    repo = hub_cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in sorted(source.rglob("*")):
        if not f.is_file():
            continue
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / f.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty standard cache for this test (what HF_HOME/hub is for a process started with HF_HOME set)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def no_network(monkeypatch):
    """Any hub request or socket connection fails the test."""
    from huggingface_hub import HfApi

    def refuse(*args, **kwargs):
        raise AssertionError(f"network call: {args} {kwargs}")

    monkeypatch.setattr(HfApi, "model_info", refuse)
    monkeypatch.setattr(HfApi, "repo_info", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


class FakeHub:
    """Stand-in for the hub's metadata call and snapshot download: `commits` maps a
    revision (branch or commit) to a commit; every call is recorded."""

    def __init__(self, monkeypatch, files: list[str], commits: dict, download_from: Path | None = None):
        import huggingface_hub

        self.files, self.commits, self.download_from = files, commits, download_from
        self.info_calls, self.downloads = [], []
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setattr(huggingface_hub.HfApi, "model_info", self.model_info)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", self.snapshot_download)

    def model_info(self, repo_id, revision=None, **kwargs):
        self.info_calls.append(revision)
        sha = self.commits[revision or "main"]
        return SimpleNamespace(sha=sha, siblings=[SimpleNamespace(rfilename=f) for f in self.files])

    def snapshot_download(self, repo_id, **kwargs):
        from huggingface_hub import constants
        from huggingface_hub.utils import filter_repo_objects

        self.downloads.append(kwargs)
        assert kwargs.get("cache_dir") is None and kwargs.get("local_dir") is None, "not the standard cache"
        wanted = set(filter_repo_objects(self.files, allow_patterns=kwargs.get("allow_patterns"),
                                         ignore_patterns=kwargs.get("ignore_patterns")))
        self.downloaded = wanted
        return str(lay_out_cache(Path(constants.HF_HUB_CACHE), repo_id, kwargs["revision"], self.download_from,
                                 ref=None))


def test_offline_uses_the_weights_on_disk_and_reads_the_commit_from_the_snapshot(
        tiny_model_dir, hub_cache, no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = lay_out_cache(hub_cache, REPO_ID, COMMIT_A, tiny_model_dir)
    spec = ModelSpec(name="tiny-chat", id=REPO_ID, dtype="float32")
    manifest = fetch(spec, tmp_path / "resources" / "tiny-chat")
    assert manifest["path"] == str(snapshot) and manifest["revision"] == COMMIT_A
    assert json.loads((tmp_path / "resources" / "tiny-chat" / "manifest.json").read_text())["revision"] == COMMIT_A
    # nothing was downloaded into the project
    assert not (tmp_path / "resources" / "hub").exists()
    from alignshift.models.load import load

    lm = load(manifest, spec, device="cpu")
    assert lm.revision == COMMIT_A and lm.model.config.vocab_size == len(lm.tokenizer)


def test_offline_without_the_snapshot_names_the_cache(hub_cache, no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"HF_HUB_OFFLINE is set and the cache .*models--some-org--tiny-chat"):
        fetch(ModelSpec(name="tiny-chat", id=REPO_ID), tmp_path / "out")


def test_hf_home_of_the_job_is_the_cache_used(tiny_model_dir, tmp_path):
    """A job started with HF_HOME set (and offline) finds the weights the user already has there."""
    snapshot = lay_out_cache(tmp_path / "elsewhere" / "hub", REPO_ID, COMMIT_B, tiny_model_dir)
    out = tmp_path / "resources" / "models" / "tiny-chat" / "manifest.json"
    spec = {"name": "tiny-chat", **{k: v for k, v in ModelSpec("tiny-chat", REPO_ID).to_dict().items() if k != "name"}}
    code = f"from alignshift import jobs; jobs.fetch_model({spec!r}, {str(out)!r})"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "elsewhere"), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO / "src"))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads(out.read_text())
    assert manifest["path"] == str(snapshot) and manifest["revision"] == COMMIT_B


def test_online_with_the_weights_on_disk_downloads_nothing(tiny_model_dir, hub_cache, tmp_path, monkeypatch):
    files = sorted(p.name for p in tiny_model_dir.iterdir() if p.is_file())
    snapshot = lay_out_cache(hub_cache, REPO_ID, COMMIT_A, tiny_model_dir)
    fake = FakeHub(monkeypatch, files, {"main": COMMIT_A})
    manifest = fetch(ModelSpec(name="tiny-chat", id=REPO_ID), tmp_path / "out")
    assert manifest["path"] == str(snapshot) and manifest["revision"] == COMMIT_A
    assert fake.info_calls == [None] and fake.downloads == []


def test_only_one_copy_of_the_weights_is_downloaded_into_the_standard_cache(tiny_model_dir, hub_cache, tmp_path,
                                                                            monkeypatch):
    fake = FakeHub(monkeypatch, MISTRAL_FILES, {"main": COMMIT_A}, download_from=tiny_model_dir)
    manifest = fetch(ModelSpec(name="mistral-7b-v0.3", id="mistralai/Mistral-7B-v0.3"), tmp_path / "out")
    assert len(fake.downloads) == 1 and fake.downloads[0]["revision"] == COMMIT_A
    assert "consolidated.safetensors" not in fake.downloaded
    assert {f for f in fake.downloaded if f.endswith(".safetensors")} == {
        "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"}
    assert {"model.safetensors.index.json", "config.json", "tokenizer.model", "tokenizer.json"} <= fake.downloaded
    assert manifest["path"].startswith(str(hub_cache)) and manifest["revision"] == COMMIT_A


@pytest.mark.parametrize("files, allow_pickle, weights", [
    (["model.safetensors", "consolidated.safetensors", "pytorch_model.bin"], True, ["model.safetensors"]),
    (["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "training_args.bin"], True,
     ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]),
    (["pytorch_model.bin"], False, []),
    (["adapter_model.safetensors", "original/consolidated.00.pth"], False, ["adapter_model.safetensors"]),
])
def test_weight_files_chosen_from_a_listing(files, allow_pickle, weights):
    chosen = hub.select_files(files + ["config.json", "original/params.json"], allow_pickle)
    assert chosen == sorted(["config.json", *weights])


def lock_from(lock: Path, manifests=(), tables=()) -> dict:
    """What the workflow's hub_lock rule does with the outputs it reads."""
    from alignshift import jobs

    jobs.hub_lock(str(lock), [str(m) for m in manifests], [str(t) for t in tables])
    return yaml.safe_load(lock.read_text())


def test_lock_file_pins_the_first_fetched_commit(tiny_model_dir, hub_cache, tmp_path, monkeypatch):
    files = sorted(p.name for p in tiny_model_dir.iterdir() if p.is_file())
    lock = tmp_path / "config" / "locks" / "study.yaml"
    spec = ModelSpec(name="tiny-chat", id=REPO_ID)
    fake = FakeHub(monkeypatch, files, {"main": COMMIT_A, COMMIT_A: COMMIT_A, COMMIT_B: COMMIT_B},
                   download_from=tiny_model_dir)
    first = fetch(spec, tmp_path / "run1", lock=lock)
    assert first["revision"] == COMMIT_A and first["hub"] == {"repo": REPO_ID, "revision": None, "commit": COMMIT_A}
    assert not lock.exists()  # a fetch only reads the lock file; the hub_lock rule writes it
    assert lock_from(lock, [tmp_path / "run1" / "manifest.json"]) == {"models": {REPO_ID: COMMIT_A}, "datasets": {}}
    # the hub's main moves on; a later fetch (another machine, a fresh clone) stays on the locked commit
    fake.commits["main"] = COMMIT_B
    second = fetch(spec, tmp_path / "run2", lock=lock)
    assert second["revision"] == COMMIT_A and fake.info_calls[-1] == COMMIT_A
    # offline too: the lock wins over what refs/main says in the cache
    lay_out_cache(hub_cache, REPO_ID, COMMIT_B, tiny_model_dir)
    assert (hub_cache / "models--some-org--tiny-chat" / "refs" / "main").read_text() == COMMIT_B
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch(spec, tmp_path / "run3", lock=lock)["revision"] == COMMIT_A
    # without the lock the same offline fetch follows refs/main
    assert fetch(spec, tmp_path / "run4")["revision"] == COMMIT_B
    # an entry asking for another revision is not served the locked commit of main
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    fake.commits["v2"] = COMMIT_B
    tagged = ModelSpec(name="tiny-chat", id=REPO_ID, revision="v2")
    fetch(tagged, tmp_path / "run5", lock=lock)
    assert lock_from(lock, [tmp_path / "run1" / "manifest.json", tmp_path / "run5" / "manifest.json"]) == {
        "models": {REPO_ID: COMMIT_A, f"{REPO_ID}@v2": COMMIT_B}, "datasets": {}}
    # a commit in the entry pins it whatever the lock says, and is not locked again
    pinned = fetch(ModelSpec(name="tiny-chat", id=REPO_ID, revision=COMMIT_B), tmp_path / "run6", lock=lock)
    assert pinned["revision"] == COMMIT_B
    assert lock_from(lock, [tmp_path / "run6" / "manifest.json"])["models"] == {REPO_ID: COMMIT_A,
                                                                               f"{REPO_ID}@v2": COMMIT_B}
    # an output that used another commit than the locked one (run4 followed refs/main
    # without the lock) is refused, naming the output, both commits and what to do
    with pytest.raises(ValueError, match=rf"run4/manifest.json used {REPO_ID} at {COMMIT_B}, but .*locks it at "
                                         rf"{COMMIT_A}: delete .*run4/manifest.json"):
        lock_from(lock, [tmp_path / "run4" / "manifest.json"])
    assert yaml.safe_load(lock.read_text())["models"][REPO_ID] == COMMIT_A  # untouched


def test_lock_file_of_the_first_format_is_read_as_models(tmp_path):
    from alignshift.hub_lock import HubLock

    lock = tmp_path / "study.yaml"
    lock.write_text(f"{REPO_ID}: {COMMIT_A}\n{REPO_ID}@v2: {COMMIT_B}\n")
    assert HubLock(lock).get(REPO_ID, None) == COMMIT_A and HubLock(lock).get(REPO_ID, "v2") == COMMIT_B
    assert HubLock(lock).get(REPO_ID, None, "datasets") is None
    lock.write_text("models: {}\nweights: {}\n")
    with pytest.raises(ValueError, match=r"study.yaml: unknown section 'weights'"):
        HubLock(lock).read()


GO_REPO = "Anthropic/llm_global_opinions"


def global_opinions_repo(folder: Path, extra_rows: list[dict] | None = None) -> Path:
    """GlobalOpinionsQA's repository layout (data/global_opinions.csv) in `folder`."""
    from global_fixtures import write_global_opinions

    (folder / "data").mkdir(parents=True)
    write_global_opinions(folder / "data" / "global_opinions.csv", extra_rows)
    return folder


EXTRA_QUESTION = {"question": "Is the sea rising?", "options": "['Yes', 'No']", "source": "GAS",
                  "selections": "defaultdict(<class 'list'>, {'Brazil': [0.5, 0.5]})"}


def test_hub_dataset_follows_the_lock_file(hub_cache, no_network, tmp_path, monkeypatch):
    """A hub dataset is read at its locked commit, whatever refs/main says; a commit in
    the entry wins; the prepared table's provenance records what was used."""
    from alignshift import jobs
    from alignshift.provenance import read_provenance

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lay_out_cache(hub_cache, GO_REPO, COMMIT_A, global_opinions_repo(tmp_path / "a"), repo_type="dataset")
    # main moved on: a fourth question at COMMIT_B
    lay_out_cache(hub_cache, GO_REPO, COMMIT_B, global_opinions_repo(tmp_path / "b", [EXTRA_QUESTION]),
                  repo_type="dataset")
    lock = tmp_path / "lock.yaml"
    spec = {"loader": "global_opinions", "revision": None}
    jobs.prepare_data("global_opinions", spec, str(tmp_path / "unlocked.parquet"), lock=str(lock))
    assert read_provenance(tmp_path / "unlocked.parquet")["hub"] == {"repo": GO_REPO, "revision": None,
                                                                    "commit": COMMIT_B}
    lock.write_text(f"models: {{}}\ndatasets: {{{GO_REPO}: {COMMIT_A}}}\n")
    jobs.prepare_data("global_opinions", spec, str(tmp_path / "locked.parquet"), lock=str(lock))
    locked = read_provenance(tmp_path / "locked.parquet")
    assert locked["hub"]["commit"] == COMMIT_A and locked["revision"] == f"{GO_REPO}@{COMMIT_A}"
    assert pd.read_parquet(tmp_path / "locked.parquet")["question"].nunique() == 3  # COMMIT_A's file
    assert pd.read_parquet(tmp_path / "unlocked.parquet")["question"].nunique() == 4
    # a commit in the entry wins over the lock, and the lock rule leaves it out
    jobs.prepare_data("global_opinions", {**spec, "revision": COMMIT_B}, str(tmp_path / "pinned.parquet"),
                      lock=str(lock))
    assert read_provenance(tmp_path / "pinned.parquet")["hub"]["commit"] == COMMIT_B
    assert lock_from(lock, tables=[tmp_path / "locked.parquet", tmp_path / "pinned.parquet"]) == {
        "models": {}, "datasets": {GO_REPO: COMMIT_A}}
    # a local copy is no hub dataset: nothing to lock
    local = {"loader": "global_opinions", "path": str(tmp_path / "a" / "data" / "global_opinions.csv")}
    jobs.prepare_data("global_opinions", local, str(tmp_path / "local.parquet"), lock=str(lock))
    assert "hub" not in read_provenance(tmp_path / "local.parquet")


def test_hub_dataset_offline_from_the_standard_cache(hub_cache, no_network, tmp_path, monkeypatch):
    """A hub dataset already in the standard cache loads offline, at the commit of refs/main."""
    from global_fixtures import write_global_opinions

    from alignshift.data.hub import load_global_opinions

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = tmp_path / "repo"
    (source / "data").mkdir(parents=True)
    write_global_opinions(source / "data" / "global_opinions.csv")
    lay_out_cache(hub_cache, "Anthropic/llm_global_opinions", COMMIT_B, source, repo_type="dataset")
    table = load_global_opinions()
    assert table.attrs["revision"] == f"Anthropic/llm_global_opinions@{COMMIT_B}"
    assert table["question"].nunique() == 3  # the fixture's three questions, read from the cached file
    assert not (tmp_path / "resources").exists()


@pytest.mark.slow
def test_workflow_writes_the_lock_file_through_its_rule_and_follows_it(tiny_model_dir, tmp_path):
    """A real run: the hub_lock rule (a target of `all`) writes what the fetch and the hub
    data preparation used; a fresh checkout with that lock file stays on those commits
    after the hub's main has moved on."""
    from conftest import write_config

    from alignshift.provenance import read_provenance

    hf_home = tmp_path / "hf"
    hub_cache = hf_home / "hub"
    lay_out_cache(hub_cache, REPO_ID, COMMIT_A, tiny_model_dir)
    lay_out_cache(hub_cache, GO_REPO, COMMIT_A, global_opinions_repo(tmp_path / "a"), repo_type="dataset")
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(models={"tiny-chat": {"id": REPO_ID, "stage": "pt", "dtype": "float32"}},
               datasets={"global_opinions": {"loader": "global_opinions", "revision": None}},
               hub_lock="config/locks/study.yaml", finetune={}, probes={"opinions": {}}, figures=[])
    env = {"HF_HOME": str(hf_home)}
    lock_target = "config/locks/study.yaml"
    first = tmp_path / "first"
    first.mkdir()
    write_config(first, cfg)
    plan = run_snakemake(first, "-n", env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout + plan.stderr)["hub_lock"] == 1  # part of `all`
    run = run_snakemake(first, "--cores", "1", lock_target, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    locked = {"models": {REPO_ID: COMMIT_A}, "datasets": {GO_REPO: COMMIT_A}}
    assert yaml.safe_load((first / lock_target).read_text()) == locked
    # nothing left to do: the lock file is newer than what it was made from
    again = run_snakemake(first, "-n", lock_target, env=env)
    assert again.returncode == 0 and "hub_lock" not in job_counts(again.stdout + again.stderr)

    # the hub's main moves on, to weights and data with a fourth question
    lay_out_cache(hub_cache, REPO_ID, COMMIT_B, tiny_model_dir)
    lay_out_cache(hub_cache, GO_REPO, COMMIT_B, global_opinions_repo(tmp_path / "b", [EXTRA_QUESTION]),
                  repo_type="dataset")
    # a fresh checkout with the committed lock file stays where it was
    fresh = tmp_path / "fresh"
    (fresh / "config" / "locks").mkdir(parents=True)
    (fresh / lock_target).write_text((first / lock_target).read_text())
    write_config(fresh, cfg)
    # (`all` needs the manifest and the table; named here, since the lock file alone is there)
    run = run_snakemake(fresh, "--cores", "1", "resources/models/tiny-chat/manifest.json",
                        "results/data/global_opinions.parquet", lock_target, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    manifest = json.loads((fresh / "resources" / "models" / "tiny-chat" / "manifest.json").read_text())
    assert manifest["revision"] == COMMIT_A
    table = fresh / "results" / "data" / "global_opinions.parquet"
    assert read_provenance(table)["hub"]["commit"] == COMMIT_A and pd.read_parquet(table)["question"].nunique() == 3
    assert yaml.safe_load((fresh / lock_target).read_text()) == locked
    assert "rule hub_lock" in run.stderr  # run again after the fetch, and left as it was
