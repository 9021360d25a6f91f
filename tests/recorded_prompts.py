"""What a finished study's evaluations recorded of the prompts they scored
(`results/prompts/<model>/<probe>.parquet`), checked against its score tables and the
models' own tokenizers."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd

from alignshift.probes import PROMPT_COLUMNS
from alignshift.provenance import read_provenance, stable_hash
from alignshift.registry import read_model_table
from alignshift.scoring import split_joint


def score_tables(workdir: Path, stage: str | None = None) -> list[Path]:
    """Every evaluation's score table (stage None: `<probe>.parquet`) or a later stage's
    (`<probe>.<stage>.parquet`)."""
    root = workdir / "results" / "scores"
    tables = sorted(root.rglob("*.parquet"))
    if stage is None:
        return [p for p in tables if "." not in p.stem]
    return [p for p in tables if p.stem.endswith(f".{stage}")]


def prompts_of(scores_path: Path) -> Path:
    return Path(str(scores_path).replace("/results/scores/", "/results/prompts/", 1))


def recorded(workdir: Path, model: str, probe: str) -> pd.DataFrame:
    return pd.read_parquet(workdir / "results" / "prompts" / model / f"{probe}.parquet")


@cache
def _tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def tokenizer_of(workdir: Path, model: str):
    """A model's tokenizer as its jobs load it: from the fetched model's directory (a
    checkpoint's: its base model's)."""
    models = read_model_table(workdir / "results" / "models.csv").set_index("model")
    root = models.loc[model, "parent"] if models.loc[model, "run"] else model
    manifest = json.loads((workdir / "resources" / "models" / root / "manifest.json").read_text())
    return _tokenizer(manifest["path"])


def check_recorded_prompts(workdir: Path) -> int:
    """Every score table of an evaluation has its prompts table beside it: one row per
    distinct prompt its rows were scored on (every score row's prompt_hash is exactly one
    recorded prompt and every recorded prompt was scored), each prompt's hash is the hash
    of what was scored (its text, or its token ids), and its token ids are what the
    model's tokenizer makes of the text the way the scorer / generator / reward model
    encodes it. Returns the number of tables checked."""
    tables = score_tables(workdir)
    assert tables, workdir
    for path in tables:
        scores = pd.read_parquet(path)
        prompts = pd.read_parquet(prompts_of(path))
        meta = read_provenance(prompts_of(path))
        model, probe = scores["model"].iloc[0] if len(scores) else meta["model"], path.stem
        assert meta["model"] == model and meta["probe"] == probe
        assert meta["model_revision"] == read_provenance(path)["model_revision"]
        assert list(prompts.columns) == PROMPT_COLUMNS, path
        assert prompts["prompt_hash"].is_unique, path
        assert set(scores["prompt_hash"]) == set(prompts["prompt_hash"]), path
        assert scores["prompt_hash"].notna().all(), path
        tokenizer = tokenizer_of(workdir, model)
        scoring_path = meta["prompts"]["scoring_path"]
        bos = meta["prompts"]["bos_token_id"]
        for row in prompts.itertuples():
            ids = [int(i) for i in row.token_ids]
            if row.given_as == "token_ids":
                assert stable_hash(ids) == row.prompt_hash
                decoded = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
                assert decoded == row.prompt
                continue
            assert row.given_as == "text" and stable_hash(row.prompt) == row.prompt_hash
            own = tokenizer(row.prompt, add_special_tokens=False).input_ids
            if scoring_path == "reward":
                assert ids == own, (path, row.prompt[:80])
            else:
                # the scorer's own split (and the generator's input): the text's tokens with BOS once
                assert ids == ([bos] if bos is not None and own[:1] != [bos] else []) + own, (path, row.prompt[:80])
                assert split_joint(tokenizer, row.prompt, (" and so on, and so forth",))[0] == ids
    return len(tables)
