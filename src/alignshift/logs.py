"""Job logging: to the job's log file and the terminal (stdlib only, so a job running in
an environment without the model stack, such as CFMatch's, logs the same way)."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

log = logging.getLogger("alignshift")


@contextlib.contextmanager
def logged(log_path: str | Path | None):
    """Log to the job's log file and to the terminal; record any failure in the log."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield
    except BaseException:
        log.exception("job failed")
        raise
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()
