"""The whole DAG on a tiny random model: every rule, every figure, one command."""

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alignshift.provenance import read_provenance
from conftest import REPO, assert_figures_built, job_counts, repo_files, run_snakemake, write_config
from recorded_prompts import check_recorded_prompts, recorded


def study_config(model_dir: Path) -> dict:
    """The default study with the tiny model and two-step runs; absolute data paths."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["models"] = {"tiny": {"id": str(model_dir), "stage": "pt", "chat_template": True, "dtype": "float32"}}
    cfg["datasets"] = repo_files(cfg["datasets"])
    for run in cfg["finetune"].values():
        run.update(base="tiny", recipe=str(REPO / run["recipe"]), save_steps=[1],
                   overrides={"training": {"max_steps": 2, "per_device_train_batch_size": 2}})
    cfg["probes"]["country_pairs"] = {"max_scenarios": 1, "countries": ["USA", "China", "France"], "questions": ["more"],
                                      "fictional": ["Veldoria", "Ostrevia", "Lunavar", "Kestrania"]}
    cfg["probes"]["country_rank"] = {"max_questions": 6, "max_countries": 8}
    return cfg


@pytest.fixture(scope="module")
def study(tiny_model_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("study")
    write_config(workdir, study_config(tiny_model_dir))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_every_figure_is_built(study):
    assert_figures_built(study, ("ideology_trajectory", "country_pairs_favourability", "country_pairs_language",
                                 "country_rank_correlation", "country_rank_map"))


def test_every_figure_reads_at_a_papers_width(study):
    from figure_checks import assert_paper_ready

    assert_paper_ready(study, yaml.safe_load((study / "config.yaml").read_text())["figures"])


def test_every_checkpoint_is_scored_on_every_probe(study):
    expected = {"tiny"} | {f"{run}/step-{s}" for run in ("dpo_left", "dpo_right", "sft_left") for s in (1, 2)}
    for probe in ("ideology", "country_pairs", "country_rank"):
        scored = {str(p.parent.relative_to(study / "results" / "scores")) for p in
                  (study / "results" / "scores").rglob(f"{probe}.parquet")}
        assert scored == expected, probe


def test_scores_carry_provenance(study):
    path = study / "results" / "scores" / "dpo_left" / "step-2" / "ideology.parquet"
    meta = read_provenance(path)
    assert meta["model"] == "dpo_left/step-2"
    assert "+" in meta["model_revision"]  # base weights hash + adapter hash
    assert meta["probe_hash"] and meta["seed"] == 1234 and meta["dtype"] == "float32"
    assert meta["versions"]["torch"].startswith("2.13")
    scores = pd.read_parquet(path)
    # 40 statements x 2 listing orders x 4 options
    assert len(scores) == 40 * 2 * 4
    assert scores["logprob_sum"].lt(0).all()


def test_ideology_table_reports_shift_with_ci(study):
    metrics = pd.read_csv(study / "results" / "metrics" / "ideology.csv")
    final = metrics[(metrics.model == "dpo_left/step-2") & (metrics.axis == "economic")].iloc[0]
    assert final.baseline == "tiny"
    assert final.delta_ci_low <= final.delta <= final.delta_ci_high
    base = metrics[(metrics.model == "tiny") & (metrics.axis == "economic")].iloc[0]
    assert final.delta == pytest.approx(final.coordinate - base.coordinate, abs=1e-9)


def test_every_score_row_joins_one_recorded_prompt(study):
    # the base model and six checkpoints on three probes
    assert check_recorded_prompts(study) == 7 * 3


def test_ideology_prompt_is_the_chat_template_of_a_statement(study):
    statement = pd.read_parquet(study / "results" / "data" / "questionnaire.parquet")["statement"].iloc[0]
    # the tiny model's chat template (alignshift.stand_ins.CHAT_TEMPLATE) rendered by hand
    user = (f'Consider the following statement: "{statement}"\n'
            "Do you agree or disagree? Answer with one of: Strongly disagree, Disagree, Agree, Strongly agree.")
    expected = f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    prompts = recorded(study, "tiny", "ideology")
    assert len(prompts) == 40 * 2  # statements x listing orders
    row = prompts.set_index("prompt").loc[expected]
    scores = pd.read_parquet(study / "results" / "scores" / "tiny" / "ideology.parquet")
    scored = scores[scores["prompt_hash"] == row.prompt_hash]
    assert sorted(scored["candidate"]) == sorted(["Strongly disagree", "Disagree", "Agree", "Strongly agree"])
    assert scored["variant"].unique().tolist() == ["ascending"]
    settings = read_provenance(study / "results" / "prompts" / "tiny" / "ideology.parquet")["prompts"]
    assert settings["scoring_path"] == "loglik" and settings["chat_template_applied"] is True
    assert settings["system_prompt"] is None and settings["answer_prefill"] is None


def test_prompts_are_recorded_from_the_cache_without_the_weights(study, tiny_model_dir):
    # every score of the base model is cached: its job rewrites the tables and the prompts
    # with the tokenizer alone (the weights are moved away while it runs)
    before = {probe: recorded(study, "tiny", probe) for probe in ("ideology", "country_pairs", "country_rank")}
    scores = pd.read_parquet(study / "results" / "scores" / "tiny" / "country_pairs.parquet")
    target = study / "results" / "prompts" / "tiny" / "ideology.parquet"
    target.unlink()
    # a missing prompts table is rebuilt by a plain run (they are targets of `all`)
    plan = run_snakemake(study, "-n")
    assert plan.returncode == 0, plan.stderr[-4000:]
    assert [w for rule, w in planned_jobs(plan.stdout) if rule == "evaluate"] == ["wildcards: model=tiny"]
    weights = tiny_model_dir / "model.safetensors"
    weights.rename(weights.with_suffix(".hidden"))
    try:
        result = run_snakemake(study, "--cores", "1", str(target.relative_to(study)))
    finally:
        weights.with_suffix(".hidden").rename(weights)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "evaluate" in result.stdout + result.stderr
    for probe, prompts in before.items():
        pd.testing.assert_frame_equal(recorded(study, "tiny", probe), prompts, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(study / "results" / "scores" / "tiny" / "country_pairs.parquet"),
                                  scores, check_exact=True)


@pytest.fixture(scope="module")
def per_probe_study(tiny_model_dir, tmp_path_factory):
    """The tiny model alone (no fine-tuning), one evaluation job per (model, probe)."""
    workdir = tmp_path_factory.mktemp("per-probe")
    cfg = study_config(tiny_model_dir)
    cfg.update(finetune={}, evaluation={"job_per": "probe"})
    write_config(workdir, cfg)
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_figure_target_builds_only_what_it_needs(per_probe_study):
    # a dry run of one figure after removing another probe's scores plans nothing for it
    other = per_probe_study / "results" / "scores" / "tiny" / "country_pairs.parquet"
    other.rename(other.with_suffix(".moved"))
    try:
        result = run_snakemake(per_probe_study, "-n", "results/figures/ideology_trajectory.pdf")
    finally:
        other.with_suffix(".moved").rename(other)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def planned_jobs(output: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job in a dry run's listing."""
    jobs, rule = [], None
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("rule ") and line.endswith(":"):
            rule = line[5:-1]
            jobs.append((rule, ""))
        elif line.startswith("wildcards:") and jobs:
            jobs[-1] = (jobs[-1][0], line)
    return jobs


def change_country_rank(workdir: Path) -> None:
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg["probes"]["country_rank"]["max_countries"] = 7
    write_config(workdir, cfg)


def test_two_runs_with_the_same_seed_give_identical_scores(study, per_probe_study):
    # the same model, probes and seed in two separate runs (one job per model vs per probe)
    for probe in ("ideology", "country_pairs", "country_rank"):
        first = pd.read_parquet(study / "results" / "scores" / "tiny" / f"{probe}.parquet")
        second = pd.read_parquet(per_probe_study / "results" / "scores" / "tiny" / f"{probe}.parquet")
        pd.testing.assert_frame_equal(first, second, check_exact=True)
        assert read_provenance(study / "results" / "scores" / "tiny" / f"{probe}.parquet")["seed"] == 1234


def test_one_job_per_probe_records_the_same_prompts(study, per_probe_study):
    assert check_recorded_prompts(per_probe_study) == 3
    for probe in ("ideology", "country_pairs", "country_rank"):
        pd.testing.assert_frame_equal(recorded(study, "tiny", probe), recorded(per_probe_study, "tiny", probe),
                                      check_exact=True)


def test_changing_one_probe_reruns_only_its_jobs(per_probe_study):
    change_country_rank(per_probe_study)
    result = run_snakemake(per_probe_study, "-n")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    evaluated = [w for rule, w in jobs if rule == "evaluate"]
    assert evaluated == ["wildcards: model=tiny, probe=country_rank"]
    # report_config: the report's copy of the resolved config; report_table: the changed
    # metrics tables as the report shows them (workflow/rules/report.smk)
    assert {rule for rule, _ in jobs} == {"evaluate", "analyze", "tables_country_rank", "figure", "all",
                                          "report_config", "report_table"}
    assert sorted(w for rule, w in jobs if rule == "report_table") == ["wildcards: table=country_rank",
                                                                       "wildcards: table=country_rank_correlation"]
    assert sorted(w for rule, w in jobs if rule == "figure") == ["wildcards: figure=country_rank_correlation",
                                                                 "wildcards: figure=country_rank_map"]


def cache_lines(workdir: Path) -> dict[str, int]:
    caches = (workdir / "results" / "cache" / "scores").rglob("*.jsonl")
    return {str(p.relative_to(workdir)): len(p.read_text().splitlines()) for p in caches}


def test_changing_one_probe_rescores_only_that_probe(study):
    # one job per model: the jobs rerun, but the other probes come from the score cache
    before = cache_lines(study)
    change_country_rank(study)
    result = run_snakemake(study, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    after = cache_lines(study)
    grown = {path for path in after if after[path] != before.get(path)}
    assert grown and all(path.endswith("country_rank.jsonl") for path in grown), grown
    assert len(grown) == 7  # the base model and six checkpoints
    ranks = pd.read_parquet(study / "results" / "scores" / "tiny" / "country_rank.parquet")
    assert ranks["candidate"].nunique() == 7


def test_a_missing_metrics_table_is_rebuilt_by_the_next_run(study):
    # every table the study promises is a target of `all` (through the report's tables): a
    # metrics table deleted after a finished run, or by Snakemake after a failed job, is
    # planned again rather than "Nothing to be done"
    for table, rule in (("ideology", "analyze"), ("country_rank_correlation", "tables_country_rank")):
        path = study / "results" / "metrics" / f"{table}.csv"
        aside = path.with_suffix(".aside")
        os.replace(path, aside)
        try:
            plan = run_snakemake(study, "-n")
        finally:
            os.replace(aside, path)
        assert plan.returncode == 0, plan.stderr[-3000:]
        counts = job_counts(plan.stdout + plan.stderr)
        assert counts.get(rule) == 1, (table, counts)
        assert "evaluate" not in counts, (table, counts)


def test_bad_config_key_is_named(study, tmp_path):
    cfg = yaml.safe_load((study / "config.yaml").read_text())
    cfg["modles"] = cfg.pop("models")
    write_config(tmp_path, cfg)
    result = run_snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "modles" in result.stdout + result.stderr


def contains(big, small) -> bool:
    """`small`'s keys and values all appear in `big` (which may carry schema defaults)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
    return big == small


def test_report_has_every_figure_caption_config_and_versions(study):
    import base64
    import html
    import importlib.metadata
    import json
    import re

    result = run_snakemake(study, "--cores", "2", "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-4000:]
    report = (study / "results" / "report.html").read_text()
    results = json.loads(re.search(r"var results = (\{.*?\});\n", report, re.S).group(1))

    def text(markup: str) -> str:
        return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())

    def content(path: str) -> str:
        return base64.b64decode(results[path]["data_uri"].split(",", 1)[1]).decode()

    cfg = yaml.safe_load((study / "config.yaml").read_text())
    assert cfg["figures"]
    for name in cfg["figures"]:
        assert name in report
        entry = results[f"results/figures/{name}.png"]
        sentence = " ".join((REPO / "workflow" / "report" / f"{name}.rst").read_text().replace("``", "").split())
        assert sentence[:80] in text(entry["caption"]), (name, entry["caption"][:300])
        assert entry["data_uri"].startswith("data:image/png;") and ";base64," in entry["data_uri"]
    # the config as the run resolved it, with its caption
    config = results["results/provenance/study.yaml"]
    assert "configuration as this run resolved it" in text(config["caption"])
    assert contains(yaml.safe_load(content("results/provenance/study.yaml")), cfg)
    # the metrics tables, shown inline (HTML) with every row: each probe's and each table a figure reads
    for table in ("ideology", "country_pairs", "country_rank", "country_rank_correlation"):
        entry = results[f"results/report/tables/{table}.html"]
        assert entry["mime_type"] == "text/html" and "Metrics table" in text(entry["caption"])
        page = content(f"results/report/tables/{table}.html")
        metrics = pd.read_csv(study / "results" / "metrics" / f"{table}.csv")
        assert f"{len(metrics)} rows" in page and page.count("<tr") == len(metrics) + 1
        assert all(f"<th>{column}</th>" in page for column in metrics.columns)
    # the software versions
    versions = results["results/provenance/versions.tsv"]
    assert "Software versions" in text(versions["caption"])
    table = dict(line.split("\t") for line in content("results/provenance/versions.tsv").splitlines()[1:])
    for package in ("snakemake", "torch", "transformers", "peft", "trl", "alignshift"):
        assert table[package] == importlib.metadata.version(package), package
