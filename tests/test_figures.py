"""Figures as the workflow builds them: a code change reruns only the jobs whose code it
changed (each rule's params carry a hash of the code it runs)."""

from __future__ import annotations

import re
import shutil

import yaml

from conftest import REPO, STUDIES, run_snakemake, write_config


def released_study(workdir, figures):
    """The geopolitics study from released outputs, on the rehearsal's fixture of the
    authors' files (config/rehearsals/geopolitics-released.yaml), one lab's pair."""
    cfg = yaml.safe_load((STUDIES / "geopolitics-released.yaml").read_text())
    rehearsal = yaml.safe_load((REPO / "config" / "rehearsals" / "geopolitics-released.yaml").read_text())
    cfg["released"].update({k: str(REPO / v) if k != "commit" else v for k, v in rehearsal["released"].items()})
    cfg["models"] = {m: cfg["models"][m] for m in ("mistral-7b", "mistral-7b-instruct")}
    cfg["figures"] = figures
    write_config(workdir, cfg)


def test_editing_one_figure_function_redraws_that_figure_alone(tmp_path):
    # the project's code copied, so it can be edited; the jobs import it (PYTHONPATH)
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(src)}
    workdir = tmp_path / "study"
    workdir.mkdir()
    figures = ["geopolitics_china_favourability", "geopolitics_home_shift"]
    released_study(workdir, figures)
    targets = [f"results/figures/{name}.pdf" for name in figures]
    built = run_snakemake(workdir, "--cores", "2", *targets, env=env, timeout=900)
    assert built.returncode == 0, built.stderr[-4000:]
    unchanged = run_snakemake(workdir, "-n", *targets, env=env)
    assert unchanged.returncode == 0 and "Nothing to be done" in unchanged.stdout + unchanged.stderr

    module = src / "alignshift" / "figures" / "geopolitics.py"
    text = module.read_text()
    function = text.index("def geopolitics_home_shift(")
    edited = text[:function] + text[function:].replace('fig.suptitle("Do labs', 'fig.suptitle("Did labs', 1)
    assert edited != text
    module.write_text(edited)
    plan = run_snakemake(workdir, "-n", *targets, env=env)
    assert plan.returncode == 0, plan.stderr[-4000:]
    output = plan.stdout + plan.stderr
    jobs = re.findall(r"^(?:local)?rule (\w+):$", output, flags=re.M)
    assert jobs == ["figure"], output[-3000:]
    assert re.findall(r"wildcards: figure=(\w+)", output) == ["geopolitics_home_shift"]
    assert "Params have changed since last execution" in output
