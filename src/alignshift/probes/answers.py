"""Reading a number in a model's text answer (shared by the judge's replies and ideology's
generated readings): one reading, so both probes agree on what a reply says."""

from __future__ import annotations

import math
import re

# the first number in a reply: digits not inside a word or a longer number, with an
# optional sign and decimal part (so "-3" and "7.5" are read whole, and rejected)
_NUMBER = re.compile(r"(?<![\w.])([-+]?\d+(?:\.\d+)?)(?![\w]|\.\d)")


def parse_score(reply: str, scale_max: int) -> float:
    """The score in a judge's reply: its first number, if that is a whole number in
    0..scale_max ("15", "15.", "Score: 15"); NaN otherwise (no number, "7.5", "-1", "25")."""
    match = _NUMBER.search(reply or "")
    if not match:
        return math.nan
    text = match.group(1)
    if not text.lstrip("+").isdigit():
        return math.nan
    value = int(text)
    return float(value) if 0 <= value <= scale_max else math.nan
