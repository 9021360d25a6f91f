"""The conda environments of `snakemake --use-conda` that install this checkout
(envs/cpu.yaml, envs/gpu.yaml), written from their templates (envs/templates/).

Snakemake names an environment by a hash of its env file's *content* (and of the
`--conda-prefix` folder), and copies the file before conda reads it. A fixed file that
installs the project editable from a variable would give every checkout sharing a
`--conda-prefix` the one environment first built, running that checkout's code, and
would never be rebuilt after constraints.txt or pyproject.toml change. So each checkout
writes its own files: the template with `${ALIGNSHIFT_ROOT}` replaced by the checkout's
directory, headed by the sha256 of its constraints.txt and pyproject.toml. The Snakefile
does this before any rule is read; `python -m alignshift.conda_envs [ROOT]` does it by
hand. envs/cfmatch.yaml installs nothing of the checkout and is not generated.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

TEMPLATES = ("cpu", "gpu")
# what an environment installs from the checkout besides its code
PINS = ("constraints.txt", "pyproject.toml")
VARIABLE = "${ALIGNSHIFT_ROOT}"


def render(root: Path, name: str) -> str:
    """The env file `name` for the checkout at `root`."""
    root = Path(root).resolve()
    template = (root / "envs" / "templates" / f"{name}.yaml").read_text()
    header = [f"# Written from envs/templates/{name}.yaml by alignshift.conda_envs (the Snakefile does it",
              "# on every run): do not edit or commit. Snakemake names the environment by this content:",
              f"# checkout: {root}"]
    header += [f"# {pin}: sha256 {hashlib.sha256((root / pin).read_bytes()).hexdigest()}" for pin in PINS]
    # pip reads each `pip:` line as a requirements-file line (shell-like quoting)
    return "\n".join(header) + "\n" + template.replace(VARIABLE, shlex.quote(str(root)))


def write(root: Path) -> list[Path]:
    """Write the checkout's env files (only those whose content changed); return them."""
    paths = []
    for name in TEMPLATES:
        path = Path(root) / "envs" / f"{name}.yaml"
        text = render(root, name)
        if not path.exists() or path.read_text() != text:
            tmp = path.with_name(f".{path.name}.{id(text)}.tmp")
            try:
                tmp.write_text(text)
                tmp.replace(path)  # atomic: another run reading it sees the old or the new file
            except OSError as exc:
                raise OSError(f"{path}: cannot write this checkout's conda env file ({exc}); "
                              "the checkout must be writable for --use-conda") from exc
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(written)
