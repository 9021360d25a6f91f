"""Checks on weight files before any job trusts them."""

from __future__ import annotations

import json
from pathlib import Path

from .spec import ModelLoadError

WEIGHT_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_safetensors(path: Path) -> None:
    """Refuse a truncated or corrupt safetensors file before any job marks it done."""
    from safetensors import safe_open

    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: not a safetensors file ({exc})") from exc
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        raise ModelLoadError(
            f"{path}: truncated safetensors file ({size} bytes, header needs {8 + header_len + end})"
        )
    with safe_open(str(path), "pt"):
        pass


def check_weights_dir(path: Path, allow_pickle: bool = False) -> list[Path]:
    """The weight files of a model directory; pickle formats only when opted in."""
    files = sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    pickles = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if not files and pickles and not allow_pickle:
        raise ModelLoadError(
            f"{path}: only pickle weights ({pickles[0].name}); pickle can run code when loaded. "
            "Convert to safetensors, or set `allow_pickle: true` on this model to opt in."
        )
    if not files and not pickles:
        raise ModelLoadError(f"{path}: no model weights (*.safetensors) found")
    for f in files:
        check_safetensors(f)
    # the files that make the weights (and their revision): safetensors, else the opted-in pickles
    return files or pickles
