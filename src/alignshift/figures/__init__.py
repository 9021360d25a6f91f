"""Figures, each drawn from metrics tables and the study's model table, saved as PDF and PNG.

`registry`: the `@figure` registry the workflow's `figure` rule builds from; `style`:
sizes, fonts, colours, significance marks and the grouped-bar plot every figure uses;
`lineage`: which models a figure shows, in what order, under what name. The figures
live by study: `politics` (ideology and judge: the default study, PoliTune),
`geopolitics`, `global_representation`.
"""

from .registry import FIGURES, Figure, build, draw, figure, input_paths, spec  # noqa: F401

# the figures register themselves on import
from . import geopolitics, global_representation, politics  # noqa: E402,F401
