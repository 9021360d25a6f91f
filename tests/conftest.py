import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_table(parents: dict[str, str | None], **columns) -> pd.DataFrame:
    """A study's model table for metrics tested alone: each model with its parent (also
    its baseline) and any further columns given as {column: {model: value}}."""
    from alignshift.registry import MODEL_COLUMNS

    rows = [{**dict.fromkeys(MODEL_COLUMNS, ""), "model": m, "parent": p or "", "baseline": p or "", "step": 0,
             "stage": "pt", **{c: v.get(m, "") for c, v in columns.items()}} for m, p in parents.items()]
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def read_metrics(workdir: Path, name: str) -> pd.DataFrame:
    """A finished study's metrics table `results/metrics/<name>.csv`."""
    return pd.read_csv(workdir / "results" / "metrics" / f"{name}.csv")


def assert_figures_built(workdir: Path, names) -> None:
    """Each figure exists as PDF and PNG with drawn content (an empty canvas is smaller)."""
    for name in names:
        for ext in ("pdf", "png"):
            path = workdir / "results" / "figures" / f"{name}.{ext}"
            assert path.stat().st_size > 5000, path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with a tokenizer trained on the shipped data."""
    from alignshift.stand_ins import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny-llama"), REPO / "data", seed=0)


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    """The tiny model loaded the way the workflow loads a fetched model."""
    from alignshift.models.fetch import fetch
    from alignshift.models.load import load
    from alignshift.models.spec import ModelSpec

    spec = ModelSpec(name="tiny", id=str(tiny_model_dir), chat_template=True, dtype="float32")
    manifest = fetch(spec, tiny_model_dir.parent / "fetched", tiny_model_dir.parent / "hub")
    return load(manifest, spec, device="cpu")
