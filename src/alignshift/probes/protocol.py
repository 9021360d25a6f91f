"""The probe protocol: what a probe's `items.py` declares and provides, read once.

`KINDS` says how a language model is read on the probe, explicitly:
- LOG_LIKELIHOOD: `build(spec, tables, fmt)` gives rows with a `prompt` and a
  `continuation`, which the shared scorer scores;
- GENERATION: `generate(spec, tables, lm, fmt, cache)` gives rows read from the model's
  generated answers, each keeping the `prompt` it answered;
both, for items read both ways (ideology's `reading`). Optional hooks: `build_reward(spec,
tables)` (rows with `question` and `response`: reward models apply) and `check(spec,
models)` (the probe's own check of its settings when the workflow loads).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Callable

from .errors import ProbeError
from .folders import probe_module

LOG_LIKELIHOOD = "log-likelihood"
GENERATION = "generation"
HOOKS = {LOG_LIKELIHOOD: "build", GENERATION: "generate"}
OPTIONAL_HOOKS = ("build_reward", "check")


@dataclass(frozen=True)
class Protocol:
    """A probe's kinds and hooks (None where it has no such hook)."""

    kinds: tuple[str, ...]
    build: Callable | None = None
    generate: Callable | None = None
    build_reward: Callable | None = None
    check: Callable | None = None

    @property
    def generates_only(self) -> bool:
        return self.kinds == (GENERATION,)


@cache
def protocol(name: str) -> Protocol:
    """The protocol of the probe `name` (its folder's items.py)."""
    return read_protocol(name, probe_module(name, "items"))


def read_protocol(name: str, module) -> Protocol:
    """A probe's items module as its Protocol, checked: its KINDS are known, each kind's
    hook exists, and no kind's hook exists without its kind."""
    kinds = tuple(getattr(module, "KINDS", ()))
    unknown = sorted(set(kinds) - set(HOOKS))
    if not kinds or unknown:
        raise ProbeError(f"probe {name}: items.py must set KINDS to one or both of {tuple(HOOKS)}"
                         + (f"; unknown {unknown}" if unknown else ""))
    hooks = {hook: getattr(module, hook, None) for hook in (*HOOKS.values(), *OPTIONAL_HOOKS)}
    for kind, hook in HOOKS.items():
        if (kind in kinds) != (hooks[hook] is not None):
            raise ProbeError(f"probe {name}: KINDS {kinds} " + (f"include {kind!r} but items.py has no {hook}()"
                             if kind in kinds else f"leave out {kind!r} but items.py defines {hook}()"))
    return Protocol(kinds, **hooks)
