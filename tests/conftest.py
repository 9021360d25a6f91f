import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with a tokenizer trained on the shipped data."""
    from alignshift.stand_ins import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny-llama"), REPO / "data", seed=0)


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    """The tiny model loaded the way the workflow loads a fetched model."""
    from alignshift.models import ModelSpec, fetch, load

    spec = ModelSpec(name="tiny", id=str(tiny_model_dir), chat_template=True, dtype="float32")
    manifest = fetch(spec, tiny_model_dir.parent / "fetched", tiny_model_dir.parent / "hub")
    return load(manifest, spec, device="cpu")
