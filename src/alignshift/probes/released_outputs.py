"""A probe's score table from its authors' released outputs: the probe's converters
(`probes/<name>/released.py`, `CONVERTERS`) over the generic download and checks of
alignshift.data.released."""

from __future__ import annotations

from functools import cache

import pandas as pd

from ..data import released
from ..data.released import Converter
from .folders import probe_module


@cache
def converters(probe: str) -> dict[str, Converter]:
    """format -> the probe's converter of that released format ({} for a probe with none)."""
    module = probe_module(probe, "released", optional=True)
    return {c.format: c for c in module.CONVERTERS} if module else {}


def formats(probes: list[str]) -> set[str]:
    """The released formats some of these probes read."""
    return {fmt for probe in probes for fmt in converters(probe)}


def needs(probe: str, source: dict | None) -> tuple[str, ...]:
    """The study's prepared datasets the probe's converter of the source's format reads."""
    converter = converters(probe).get(released.settings(source)["format"])
    return converter.needs if converter else ()


def released_scores(model: str, probe: str, entry: dict | None, source: dict | None, spec: dict,
                    tables: dict[str, pd.DataFrame] | None = None) -> tuple[pd.DataFrame, dict]:
    """A model's score table for one probe from its released files, with provenance
    (alignshift.data.released.released_scores, by this probe's converters)."""
    return released.released_scores(model, probe, entry, source, spec, tables, converters(probe))
