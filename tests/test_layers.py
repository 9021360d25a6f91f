"""The package's layers, read from its imports (parsed with `ast`, nothing imported):
the data layer (alignshift.data) knows no probe, a probe folder knows no other probe's
folder, and nothing imports from a layer above its own. Layers, from the bottom: the
foundation (every other module: tables, provenance, scoring, models, ...), data,
probes, jobs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "alignshift"
LAYERS = ("alignshift.data", "alignshift.probes", "alignshift.jobs")  # bottom to top, above the foundation


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The alignshift modules a file imports, anywhere in it (functions included); `from
    x import y` counts as x.y, which names the submodule when y is one."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found |= {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if m == "alignshift" or m.startswith("alignshift.")}


def layer(module: str) -> int:
    """0 for the foundation, then 1.. for LAYERS."""
    for rank, prefix in enumerate(LAYERS, start=1):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return 0


def probe_folder(module: str) -> str | None:
    """The probe a module belongs to (alignshift.probes.<name>.<file>), else None."""
    parts = module.split(".")
    if parts[:2] == ["alignshift", "probes"] and len(parts) >= 4 and (PACKAGE / "probes" / parts[2]).is_dir():
        return parts[2]
    return None


MODULES = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def violations(modules: dict[str, set[str]]) -> list[str]:
    out = []
    for module, imported in sorted(modules.items()):
        for target in sorted(imported):
            if layer(target) > layer(module):
                out.append(f"{module} imports {target}, a higher layer")
            own, other = probe_folder(module), probe_folder(target)
            if other is not None and own != other:
                out.append(f"{module} imports {target}: another probe's folder (shared code goes below both)")
    return out


def test_no_module_imports_from_a_higher_layer_or_another_probe():
    assert len(MODULES) > 50  # the whole package was read
    assert violations(MODULES) == []


@pytest.mark.parametrize("module, target", [
    ("alignshift.data.released", "alignshift.probes.extractive_qa.items"),  # data -> a probe
    ("alignshift.probes", "alignshift.jobs"),  # probes -> jobs
    ("alignshift.tables", "alignshift.data.checks"),  # the foundation -> data
    ("alignshift.probes.where_from.items", "alignshift.probes.country_rank.items"),  # probe -> probe
])
def test_the_check_catches_each_kind_of_wrong_import(module, target):
    assert violations({module: {target}}) != []


def test_relative_imports_inside_functions_are_read():
    # data.released imports the bank reader in a function body, relatively
    names = imports(SRC / "alignshift" / "data" / "released.py")
    assert "alignshift.data.supplied.llm_bias_bank" in names
    assert "alignshift.data.checks.DataError" in names  # `from .checks import DataError`, at the top
