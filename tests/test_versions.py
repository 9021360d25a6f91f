"""pyproject.toml's version ranges against what is installed and what constraints.txt
pins: every pin inside its range, every installed dependency inside its range. (The
ranges' lower bounds were checked by installing them together: see pyproject.toml.)"""

import importlib.metadata
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO


def requirements(extras: bool = True) -> dict[str, list[Requirement]]:
    """The requirements of pyproject.toml (its dependencies, and those of its extras) by package name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra
                                       if extras]
    found: dict[str, list[Requirement]] = {}
    for line in lines:
        req = Requirement(line)
        found.setdefault(canonicalize_name(req.name), []).append(req)
    return found


def pins() -> dict[str, Version]:
    rows = [line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return {canonicalize_name(name): Version(version) for name, version in rows}


def test_constraints_pin_every_requirement_inside_its_range():
    pinned = pins()
    for name, reqs in requirements().items():
        assert name in pinned, f"constraints.txt pins no version of {name} (pyproject.toml: {reqs[0]})"
        for req in reqs:
            assert req.specifier.contains(pinned[name], prereleases=True), \
                f"constraints.txt pins {name}=={pinned[name]}, outside pyproject.toml's {req}"


def test_installed_dependencies_are_inside_their_ranges():
    """The dependencies' ranges (an extra's narrower range, e.g. the test extra's
    transformers[serving]>=5.23, holds only where that extra was installed)."""
    checked = 0
    for name, reqs in requirements(extras=False).items():
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
        # a local build (torch 2.13.0+cpu) is that release
        release = Version(installed.public)
        for req in reqs:
            assert req.specifier.contains(release, prereleases=True), f"{name} {installed} is installed: outside {req}"
        checked += 1
    assert checked == len(requirements(extras=False))  # every dependency is installed


def test_ranges_the_code_needs():
    reqs = requirements()
    # scipy.stats.bootstrap's `rng=` (stats.bootstrap_mean_ci) is scipy 1.15's
    assert not reqs["scipy"][0].specifier.contains("1.14.1") and reqs["scipy"][0].specifier.contains("1.15.0")
    # TrainingArguments.activation_checkpointing (finetune.build_trainer) is transformers 5.23's
    assert not reqs["transformers"][0].specifier.contains("5.22.2")
    # peft 0.17 imports transformers 4's HybridCache
    assert not reqs["peft"][0].specifier.contains("0.17.1")
    # trl: only the minor release whose internals training patches
    trl = reqs["trl"][0].specifier
    assert [trl.contains(v) for v in ("1.15.2", "1.16.0", "1.16.9", "1.17.0")] == [False, True, True, False]


@pytest.mark.parametrize("version", ["1.15.2", "1.17.0", "2.0.0"])
def test_training_stops_on_an_untested_trl(version):
    from alignshift.finetune import check_trl

    with pytest.raises(RuntimeError, match=rf"trl {version} is installed; .*patches trl 1\.16's internals"):
        check_trl(version)
    check_trl("1.16.3")
    check_trl()  # the installed one
