"""The figure registry: a figure is a function registered with
`@figure(inputs=..., category=...)`. `inputs` names the metrics tables it reads
(`results/metrics/<name>.csv`), which is all the workflow's single `figure` rule needs
to build it alone; it is called with those tables and the model table
(`results/models.csv`); its caption is `workflow/report/<name>.rst`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Figure:
    draw: Callable
    inputs: tuple[str, ...]  # metrics tables read, by name
    category: str


FIGURES: dict[str, Figure] = {}


def figure(*, inputs: list[str], category: str):
    def register(fn):
        FIGURES[fn.__name__] = Figure(fn, tuple(inputs), category)
        return fn

    return register


def spec(name: str) -> Figure:
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; known: {sorted(FIGURES)}")
    return FIGURES[name]


def input_paths(name: str) -> dict[str, str]:
    return {table: f"results/metrics/{table}.csv" for table in spec(name).inputs}


def build(name: str, tables: dict[str, str], models: str):
    """Figure `name` drawn in the project's style from its metrics tables (name -> csv
    path) and the model table (csv path); the matplotlib figure, not yet saved."""
    from ..registry import read_model_table
    from ..tables import read_csv
    from . import style

    frames = {table: read_csv(path) for table, path in tables.items()}
    with style.context():
        fig = spec(name).draw(*(frames[t] for t in spec(name).inputs), read_model_table(models))
        style.prune_overlaps(fig)
    return fig


def draw(name: str, tables: dict[str, str], models: str, pdf: str, png: str) -> None:
    """Draw figure `name` (see `build`) into `pdf` and `png`."""
    from . import style

    fig = build(name, tables, models)
    for path in (pdf, png):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        style.save(fig, path)
    style.close(fig)
