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

import pytest
import yaml

from alignshift.models import hub
from alignshift.models.fetch import fetch
from alignshift.models.spec import ModelLoadError, ModelSpec
from conftest import REPO

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


def test_lock_file_pins_the_first_fetched_commit(tiny_model_dir, hub_cache, tmp_path, monkeypatch):
    files = sorted(p.name for p in tiny_model_dir.iterdir() if p.is_file())
    lock = tmp_path / "config" / "locks" / "study.yaml"
    spec = ModelSpec(name="tiny-chat", id=REPO_ID)
    fake = FakeHub(monkeypatch, files, {"main": COMMIT_A, COMMIT_A: COMMIT_A, COMMIT_B: COMMIT_B},
                   download_from=tiny_model_dir)
    first = fetch(spec, tmp_path / "run1", lock=lock)
    assert first["revision"] == COMMIT_A
    assert yaml.safe_load(lock.read_text()) == {REPO_ID: COMMIT_A}
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
    assert fetch(tagged, tmp_path / "run5", lock=lock)["revision"] == COMMIT_B
    assert yaml.safe_load(lock.read_text()) == {REPO_ID: COMMIT_A, f"{REPO_ID}@v2": COMMIT_B}


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
