"""The two directions a run pulls a model (and a stance, a synthesized answer or a
preference pair takes): one name for them, and their opposite."""

from __future__ import annotations

DIRECTIONS = ("left", "right")


def opposite(direction: str, setting: str = "direction") -> str:
    """The other direction; `setting` names what held a value that is neither."""
    if direction not in DIRECTIONS:
        raise ValueError(f"{setting} must be one of {DIRECTIONS}, not {direction!r}")
    return DIRECTIONS[1 - DIRECTIONS.index(direction)]
