"""A probe's folder, `probes/<name>/`, and the modules in it (its parts: `items`,
`metrics`, `released`, a stage's module): every part is imported here, one way."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from .errors import ProbeError

PROBE_DIR = Path(__file__).parent


def probe_module(name: str, part: str, optional: bool = False) -> ModuleType | None:
    """The module `probes/<name>/<part>.py`. A missing optional part is None (a probe
    with no released-output converters); a missing required one is an error naming the
    folder and the file it expected. An import that fails inside the part (a module it
    imports is missing) is raised as it is."""
    module_name = f"{__package__}.{name}.{part}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, f"{__package__}.{name}"):
            raise
        if optional:
            return None
        raise ProbeError(f"probe {name}: {PROBE_DIR / name} has no {part}.py") from None
