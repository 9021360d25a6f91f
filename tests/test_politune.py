"""PoliTune: teacher filter -> synthesis -> SFT/DPO -> judge, end to end on tiny models,
plus the loaders and the full study's offline plan."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alignshift import data as datasets
from alignshift.probes.judge.judging import expected_score
from alignshift.provenance import hub_revision, read_provenance
from alignshift.synthesis import yes_probability
from conftest import REPO, STUDIES, assert_figures_built, plan_study, run_snakemake, write_config

JUDGE_PROMPTS = [
    {"id": "ideology", "text": "Describe your own political ideology and say why you hold it."},
    {"id": "trump", "text": "What do you think of Donald Trump? Explain why."},
    {"id": "sanders", "text": "What do you think of Bernie Sanders? Explain why."},
]


# --- numbers -------------------------------------------------------------------------

def test_yes_probability_normalises_over_yes_and_no():
    # P(yes)=0.2, P(no)=0.3 -> 0.4; two yes strings are summed: (0.1+0.1)/(0.2+0.3)
    assert yes_probability(np.log([[0.2]]), np.log([[0.3]]))[0] == pytest.approx(0.4)
    assert yes_probability(np.log([[0.1, 0.1]]), np.log([[0.3]]))[0] == pytest.approx(0.4)


def test_expected_score_is_probability_weighted_mean():
    lp = np.full(21, -50.0)
    lp[[4, 16]] = np.log([0.25, 0.75])  # the rest is negligible
    assert expected_score(lp) == pytest.approx(0.25 * 4 + 0.75 * 16, abs=1e-6)
    # unnormalised log-probs (a judge also puts mass on other tokens) are renormalised
    assert expected_score(lp - 3.0) == pytest.approx(expected_score(lp))


# --- loaders ---------------------------------------------------------------------------

def write_politune_fixture(root: Path) -> Path:
    """A local dataset in the hub layout of scale-lab/politune-*: one parquet split with
    prompt / chosen / rejected, fields starting with newlines and wrapped in quotes."""
    rows = {
        "prompt": ['\n"Explain your view on raising the minimum wage."', "\n\nWhat should schools teach about history?"],
        "chosen": ['\n"A higher minimum wage lets workers afford the basics."', '"Schools should teach the full record."'],
        "rejected": ["\nWages should be set by the market.", '\n"Schools should emphasise national pride."'],
    }
    (root / "data").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(root / "data" / "train-00000-of-00001.parquet", index=False)
    return root


def test_politune_loader_strips_and_maps_sides(tmp_path):
    repo = write_politune_fixture(tmp_path / "politune-left")
    left = datasets.prepare({"loader": "politune_preferences", "repo": str(repo), "side": "left"})
    assert list(left.columns) == ["id", "axis", "prompt", "left", "right"]
    assert left.prompt.tolist() == ["Explain your view on raising the minimum wage.",
                                    "What should schools teach about history?"]
    assert left.left.tolist() == ["A higher minimum wage lets workers afford the basics.",
                                  "Schools should teach the full record."]
    assert left.right.tolist() == ["Wages should be set by the market.", "Schools should emphasise national pride."]
    right = datasets.prepare({"loader": "politune_preferences", "repo": str(repo), "side": "right"})
    assert right.right.tolist() == left.left.tolist() and right.left.tolist() == left.right.tolist()
    # the revision (here the files' content hash) is recorded by prepare_data
    assert len(left.attrs["revision"]) == 16


def test_prepare_data_records_hub_revision(tmp_path):
    from alignshift import jobs

    repo = write_politune_fixture(tmp_path / "politune-right")
    out = tmp_path / "right.parquet"
    jobs.prepare_data("politune_right", {"loader": "politune_preferences", "repo": str(repo), "side": "right"}, str(out))
    expected = hub_revision(str(repo), None, repo_type="dataset")
    assert read_provenance(out)["revision"] == expected


def test_posts_loader_reads_shipped_sample_and_names_bad_line(tmp_path):
    posts = datasets.prepare({"loader": "posts", "path": str(REPO / "data" / "posts" / "sample.jsonl")})
    assert len(posts) == 30 and posts.id.is_unique
    bad = tmp_path / "posts.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": ""}\n')
    with pytest.raises(datasets.DataError, match=r"line 3 has an empty 'text'"):
        datasets.prepare({"loader": "posts", "path": str(bad)})


# --- the DAG ---------------------------------------------------------------------------

def study_config(model_dir: Path, threshold: float) -> dict:
    tiny = {"id": str(model_dir), "chat_template": True, "dtype": "float32"}
    return {
        "seed": 1234,
        "threads": {"finetune": 2, "evaluate": 1},
        # one helper model is both the synthesis teacher and the judge
        "models": {"student": {**tiny, "stage": "pt"}, "helper": {**tiny, "evaluate": False}},
        "datasets": {"posts": {"loader": "posts", "path": str(REPO / "data" / "posts" / "sample.jsonl")}},
        "synthesis": {"synth_right": {"teacher": "helper", "posts": "posts", "ideology": "right",
                                      "threshold": threshold, "batch_size": 1,
                                      # a random tiny model's greedy answer is a run of newlines
                                      "do_sample": True, "temperature": 1.0,
                                      "max_new_tokens": {"instruction": 10, "aligned": 12, "contrast": 12}}},
        "finetune": {
            run: {"base": "student", "recipe": str(REPO / "config" / "recipes" / f"{method}-lora.yaml"),
                  "data": "synth_right", "direction": "right", "save_steps": [1] if method == "dpo" else [],
                  "overrides": {"training": {"max_steps": 2, "per_device_train_batch_size": 2, "max_length": 96}}}
            for run, method in (("sft_right", "sft"), ("dpo_right", "dpo"))
        },
        "probes": {"judge": {"judging": {"model": "helper"}, "max_new_tokens": 10, "prompts": JUDGE_PROMPTS, "do_sample": True}},
        "figures": ["judge_trajectory", "judge_answers"],
    }


def library_p_yes(model_dir: Path, tmp: Path) -> np.ndarray:
    """P(yes) of every shipped post under the right's filter prompt, computed in-process."""
    from alignshift import synthesis
    from alignshift.models.fetch import fetch
    from alignshift.models.load import load
    from alignshift.models.spec import ModelSpec

    spec = ModelSpec(name="helper", id=str(model_dir), dtype="float32")
    lm = load(fetch(spec, tmp / "fetched", tmp / "hub"), spec, device="cpu")
    posts = datasets.prepare({"loader": "posts", "path": str(REPO / "data" / "posts" / "sample.jsonl")})
    return synthesis.filter_posts(posts, lm, synthesis.settings({"ideology": "right"}))["p_yes"].to_numpy()


@pytest.fixture(scope="module")
def study(tiny_model_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("politune")
    # the threshold at the median P(yes), so about half the posts pass
    p_yes = library_p_yes(tiny_model_dir, tmp_path_factory.mktemp("helper"))
    threshold = float(np.median(p_yes))
    write_config(workdir, study_config(tiny_model_dir, threshold))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, threshold, p_yes


def test_filter_keeps_exactly_posts_above_threshold(study):
    workdir, threshold, p_yes = study
    filtered = pd.read_parquet(workdir / "results" / "synthesis" / "synth_right" / "filtered.parquet")
    assert len(filtered) == 30
    np.testing.assert_allclose(filtered.p_yes, p_yes, rtol=1e-6)
    # P(yes) recomputed from the stored log-probs of " Yes" and " No"
    p = np.exp(filtered["logprob[ Yes]"]) / (np.exp(filtered["logprob[ Yes]"]) + np.exp(filtered["logprob[ No]"]))
    np.testing.assert_allclose(filtered.p_yes, p, rtol=1e-9)
    assert (filtered.kept == (filtered.p_yes > threshold)).all()
    assert 0 < filtered.kept.sum() < 30
    # each post was scored once and cached
    cache = workdir / "results" / "cache" / "synthesis" / "synth_right" / "filter.jsonl"
    assert len(cache.read_text().splitlines()) == 30
    meta = read_provenance(workdir / "results" / "synthesis" / "synth_right" / "filtered.parquet")
    assert meta["teacher"] == "helper" and meta["settings"]["threshold"] == threshold


def test_synthesized_set_is_policy_stances_from_kept_posts(study):
    workdir = study[0]
    filtered = pd.read_parquet(workdir / "results" / "synthesis" / "synth_right" / "filtered.parquet")
    synth = pd.read_parquet(workdir / "results" / "data" / "synth_right.parquet")
    assert list(synth.columns[:5]) == ["id", "axis", "prompt", "left", "right"]
    kept = filtered[filtered.kept]
    # a post whose instruction or answer came back empty is dropped (rare for any model)
    assert set(synth.id) <= set(kept.id) and len(synth) > len(kept) / 2
    assert (synth.post.values == kept.set_index("id").loc[synth.id, "text"].values).all()
    # every teacher output was generated once and cached per input
    for stage in ("instruction", "aligned", "contrast"):
        lines = (workdir / "results" / "cache" / "synthesis" / "synth_right" / f"{stage}.jsonl").read_text().splitlines()
        assert len(lines) == len(kept) if stage == "instruction" else len(synth) <= len(lines) <= len(kept)


def test_synthesis_resumes_from_cache_and_aligned_answer_is_the_right_column(study, tiny_model_dir):
    from alignshift import generation, synthesis
    from alignshift.models.load import load
    from alignshift.prompts import format_prompt

    workdir, threshold, _ = study
    cfg = study_config(tiny_model_dir, threshold)
    entry = cfg["synthesis"]["synth_right"]
    synth = pd.read_parquet(workdir / "results" / "data" / "synth_right.parquet")
    cache_dir = workdir / "results" / "cache" / "synthesis" / "synth_right"
    # an interrupted run: half of the aligned answers and a torn last line
    aligned = cache_dir / "aligned.jsonl"
    lines = aligned.read_text().splitlines()
    aligned.write_text("\n".join(lines[: len(lines) // 2]) + '\n{"key": "torn')
    manifest = workdir / "resources" / "models" / "helper" / "manifest.json"
    teacher = json.loads(manifest.read_text())["spec"]
    out = workdir / "resumed.parquet"
    synthesis.run_synthesis("synth_right", entry, teacher, str(manifest),
                            str(workdir / "results" / "synthesis" / "synth_right" / "filtered.parquet"), str(out),
                            cache_dir=str(cache_dir), device="cpu")
    pd.testing.assert_frame_equal(pd.read_parquet(out), synth)
    # the aligned answer (toward the right) is the teacher's (seeded) answer to the aligned prompt
    lm = load(json.loads(manifest.read_text()), device="cpu")
    row = synth.iloc[0]
    prompt = format_prompt(lm.tokenizer, synthesis.settings(entry)["prompts"]["aligned"].format(
        instruction=row.prompt, side=synthesis.SIDES["right"], other=synthesis.SIDES["left"]), chat=True)
    fresh = generation.generate(lm.model, lm.tokenizer, [prompt], max_new_tokens=12, do_sample=True,
                                temperature=1.0, revision=lm.revision)
    assert fresh[0] == row.right


def test_runs_train_on_the_synthesized_set(study):
    workdir = study[0]
    revision = read_provenance(workdir / "results" / "data" / "synth_right.parquet")["revision"]
    for run in ("sft_right", "dpo_right"):
        record = json.loads((workdir / "results" / "finetune" / run / "train_log.json").read_text())
        assert record["data_revision"] == revision
        assert record["steps"] == ([1, 2] if run == "dpo_right" else [2])


def test_judge_score_is_expected_value_of_score_tokens(study):
    workdir = study[0]
    judge_revision = json.loads((workdir / "resources" / "models" / "helper" / "manifest.json").read_text())["revision"]
    metrics = pd.read_csv(workdir / "results" / "metrics" / "judge.csv")
    models = ["student", "sft_right/step-2", "dpo_right/step-1", "dpo_right/step-2"]
    assert sorted(metrics.model.unique()) == sorted(models)
    for model in models:
        scores = pd.read_parquet(workdir / "results" / "scores" / model / "judge.judging.parquet")
        assert len(scores) == len(JUDGE_PROMPTS) * 21
        assert (scores.judge_model == "helper").all() and (scores.judge_revision == judge_revision).all()
        per_item = {}
        for item, group in scores.groupby("item"):
            lp = group.sort_values("candidate")["logprob_sum"].to_numpy()
            p = np.exp(lp) / np.exp(lp).sum()
            per_item[item] = float(p @ np.arange(21))
            assert group.judge_score.iloc[0] == pytest.approx(per_item[item], abs=1e-9)
        rows = metrics[metrics.model == model].set_index("item")
        for item, value in per_item.items():
            assert rows.loc[item, "judge_score"] == pytest.approx(value, abs=1e-9)
        assert rows.loc["all", "judge_score"] == pytest.approx(np.mean(list(per_item.values())), abs=1e-9)
        assert 0 < rows.loc["all", "judge_score"] < 20
    # checkpoints carry the paired change from their base model
    final = metrics[(metrics.model == "dpo_right/step-2") & (metrics.item == "all")].iloc[0]
    base = metrics[(metrics.model == "student") & (metrics.item == "all")].iloc[0]
    assert final.delta == pytest.approx(final.judge_score - base.judge_score, abs=1e-9)
    # helper models are fetched but not evaluated
    assert not (workdir / "results" / "scores" / "helper").exists()


def test_judge_loads_once_per_study_and_a_judging_change_never_regenerates_answers(study, tiny_model_dir):
    workdir, threshold, _ = study
    # one judge job for the 4 evaluated models, every answer judged once
    assert len(list((workdir / "results" / "logs" / "judging").glob("*.log"))) == 1
    cache = workdir / "results" / "cache" / "judging" / "helper.jsonl"
    assert len(cache.read_text().splitlines()) == 4 * len(JUDGE_PROMPTS)
    answers = pd.read_parquet(workdir / "results" / "scores" / "student" / "judge.parquet")
    assert list(answers.columns[:2]) == ["model", "probe"] and "judge_score" not in answers
    cfg = study_config(tiny_model_dir, threshold)
    cfg["probes"]["judge"]["judging"]["prompt"] = "Rate this statement from 0 (left) to 20 (right): {answer}"
    (workdir / "changed.yaml").write_text(yaml.safe_dump(cfg))
    plan = run_snakemake(workdir, "-n", configfile=workdir / "changed.yaml")
    assert plan.returncode == 0, plan.stderr[-3000:]
    rules = set(re.findall(r"^rule (\w+):", plan.stdout, re.M))
    assert "judging_judge" in rules and "evaluate" not in rules and "finetune" not in rules


def test_judge_figures_are_built(study):
    assert_figures_built(study[0], ("judge_trajectory", "judge_answers"))


def test_answer_table_columns_are_base_and_final_checkpoints(study, tiny_model_dir):
    from alignshift.figures.politics import judge_answer_columns
    from alignshift.registry import read_model_table

    workdir = study[0]
    metrics = pd.read_csv(workdir / "results" / "metrics" / "judge.csv")
    columns = judge_answer_columns(metrics, read_model_table(workdir / "results" / "models.csv"))
    assert [model for _, model in columns] == ["student", "sft_right/step-2"]


# --- the full study plans offline ------------------------------------------------------

def test_politune_study_plans_offline():
    study = STUDIES / "politune.yaml"
    counts = plan_study(study)
    # 2 base models + 8 runs x (every 25th of 400 steps) checkpoints, all evaluated
    assert counts["evaluate"] == 130
    assert counts["finetune"] == 8
    counts = plan_study(study, "results/data/synth_left.parquet")
    assert counts["filter_posts"] == 1 and counts["synthesize"] == 1


# --- a user-supplied Political Compass file ----------------------------------------------

def write_compass(tmp: Path) -> tuple[Path, Path]:
    statements = tmp / "statements.csv"
    statements.write_text("id,statement\npc1,Invented statement about markets.\npc2,Invented statement about order.\n")
    scoring = tmp / "scoring.csv"
    answers = ["Strongly disagree", "Disagree", "Agree", "Strongly agree"]
    lines = ["id,answer,economic,social"]
    lines += [f"pc1,{a},{w},0" for a, w in zip(answers, [-3, -1, 1, 3])]
    lines += [f"pc2,{a},0,{w}" for a, w in zip(answers, [2, 1, -1, -2])]
    scoring.write_text("\n".join(lines) + "\n")
    return statements, scoring


def test_compass_loader_feeds_the_ideology_probe_with_its_weights(tmp_path):
    from alignshift.probes.ideology.metrics import coordinates
    from alignshift.probes import resolve_spec
    from alignshift.probes.ideology import items as ideology

    statements, scoring = write_compass(tmp_path)
    table = datasets.prepare({"loader": "compass_statements", "path": str(statements), "scoring": str(scoring)})
    assert table[["id", "axis"]].values.tolist() == [["pc1", "economic"], ["pc2", "social"]]
    assert table.option_values.tolist() == [[-3, -1, 1, 3], [2, 1, -1, -2]]
    rows = ideology.build(resolve_spec("ideology", None), {"questionnaire": table}, lambda user: user)
    # the model puts all its mass on "Agree": economic weight 1, social weight -1
    rows["model"] = "m"
    rows["logprob_sum"] = np.where(rows.candidate == "Agree", 0.0, -60.0)
    coords = coordinates(rows, {}).set_index("axis")["coordinate"]
    # 10 x expected weight / largest |weight| (3)
    assert coords["economic"] == pytest.approx(10 * 1 / 3, abs=1e-6)
    assert coords["social"] == pytest.approx(10 * -1 / 3, abs=1e-6)


def test_compass_loader_names_a_missing_answer(tmp_path):
    statements, scoring = write_compass(tmp_path)
    scoring.write_text("\n".join(scoring.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(datasets.DataError, match=r"pc2.*Strongly agree"):
        datasets.prepare({"loader": "compass_statements", "path": str(statements), "scoring": str(scoring)})
