"""Training length follows the data: a run with `epochs` is planned from its prepared
data (checkpoint plan_run), trains exactly the planned steps and its planned checkpoints
are evaluated; a fixed max_steps is planned without the data; bad step settings and
missing inputs are refused when the study is planned, before any job is queued."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alignshift import planning
from alignshift.provenance import read_provenance
from alignshift.registry import read_model_table
from conftest import REPO, job_counts, plan_study, read_metrics, run_snakemake, write_config

PREFERENCES = REPO / "data" / "preferences" / "policy_stances.jsonl"


def write_rows(path: Path, n: int) -> Path:
    """The first `n` rows of the shipped preference pairs as a dataset of its own."""
    path.write_text("".join(PREFERENCES.read_text().splitlines(keepends=True)[:n]))
    return path


def study_config(model: dict, data: Path) -> dict:
    """The tiny model, one DPO run of 1 epoch over `data` at 2 rows per step (its steps
    follow the data) and one SFT run of a fixed 2 steps on the shipped pairs."""
    return {
        "seed": 1234,
        "threads": {"finetune": 1, "evaluate": 1},
        "models": {"tiny": model},
        "datasets": {"questionnaire": {"loader": "questionnaire", "path": str(REPO / "data/ideology/questionnaire.csv")},
                     "prefs": {"loader": "policy_stances", "path": str(data)},
                     "shipped": {"loader": "policy_stances", "path": str(PREFERENCES)}},
        "finetune": {
            "dpo_epochs": {"base": "tiny", "recipe": str(REPO / "config/recipes/dpo-lora.yaml"), "data": "prefs",
                           "direction": "left", "save_steps": [1],
                           # the recipe's fixed 150 steps replaced by one pass over the data
                           "overrides": {"epochs": 1, "training": {"max_steps": None, "per_device_train_batch_size": 2,
                                                                   "max_length": 96}}},
            "sft_fixed": {"base": "tiny", "recipe": str(REPO / "config/recipes/sft-lora.yaml"), "data": "shipped",
                          "direction": "right", "save_steps": [],
                          "overrides": {"training": {"max_steps": 2, "per_device_train_batch_size": 2, "max_length": 96}}},
        },
        "probes": {"ideology": {}},
        "figures": ["ideology_trajectory"],
    }


def tiny(model_dir: Path) -> dict:
    return {"id": str(model_dir), "stage": "pt", "chat_template": True, "dtype": "float32"}


def plan(workdir: Path, run: str) -> dict:
    return json.loads((workdir / planning.plan_path(run)).read_text())


def adapters(workdir: Path, run: str) -> set[str]:
    return {p.name for p in (workdir / "results" / "finetune" / run / "adapters").glob("step-*")}


@pytest.fixture(scope="module")
def study(tiny_model_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("planned")
    data = write_rows(workdir / "prefs.jsonl", 6)
    write_config(workdir, study_config(tiny(tiny_model_dir), data))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_epochs_run_trains_the_steps_its_data_gives(study):
    # 1 epoch over 6 rows at 2 per step: ceil(6/2) // 1 = 3 steps; checkpoints 1 and the last
    made = plan(study, "dpo_epochs")
    revision = read_provenance(study / "results" / "data" / "prefs.parquet")["revision"]
    assert {k: made[k] for k in ("rows", "epochs", "batch", "accumulation", "max_steps", "checkpoint_steps",
                                 "data_revision")} == {"rows": 6, "epochs": 1, "batch": 2, "accumulation": 1,
                                                       "max_steps": 3, "checkpoint_steps": [1, 3],
                                                       "data_revision": revision}
    record = json.loads((study / "results" / "finetune" / "dpo_epochs" / "train_log.json").read_text())
    assert record["global_step"] == 3 and record["steps"] == [1, 3] and record["recipe"]["training"]["max_steps"] == 3
    assert max(entry["step"] for entry in record["log_history"]) == 3
    assert adapters(study, "dpo_epochs") == {"step-1", "step-3"}
    # the planned checkpoints are evaluated and in the metrics, each against its base
    metrics = read_metrics(study, "ideology")
    assert set(metrics.model) == {"tiny", "dpo_epochs/step-1", "dpo_epochs/step-3", "sft_fixed/step-2"}
    models = read_model_table(study / "results" / "models.csv").set_index("model")
    assert models.loc["dpo_epochs/step-3", "step"] == 3 and models.loc["dpo_epochs/step-3", "baseline"] == "tiny"
    assert read_provenance(study / "results" / "scores" / "dpo_epochs" / "step-3" / "ideology.parquet")["adapter"] \
        == "results/finetune/dpo_epochs/adapters/step-3"
    # once planned and built, the study is complete: nothing reruns
    again = run_snakemake(study, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]


def test_fixed_step_run_is_planned_without_its_data(study):
    made = plan(study, "sft_fixed")
    assert (made["epochs"], made["max_steps"], made["checkpoint_steps"], made["rows"]) == (None, 2, [2], 57)
    record = json.loads((study / "results" / "finetune" / "sft_fixed" / "train_log.json").read_text())
    assert record["global_step"] == 2 and adapters(study, "sft_fixed") == {"step-2"}
    # planned from scratch, the fixed run's checkpoint evaluation is in the DAG before any
    # data exists; the data-planned run's checkpoints join after its plan
    planned = run_snakemake(study, "-n", "--forceall")
    assert planned.returncode == 0, planned.stderr[-3000:]
    counts = job_counts(planned.stdout + planned.stderr)
    assert counts["plan_run"] == 2 and counts["evaluate"] == 2 and counts["finetune"] == 1
    assert "sft_fixed/step-2" in planned.stdout and "dpo_epochs/step-" not in planned.stdout


def test_step_count_and_checkpoints_follow_a_change_of_the_data(study):
    before = (study / "results" / "finetune" / "sft_fixed" / "train_log.json").stat().st_mtime_ns
    write_rows(study / "prefs.jsonl", 4)  # 2 steps now
    result = run_snakemake(study, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    made = plan(study, "dpo_epochs")
    assert (made["rows"], made["max_steps"], made["checkpoint_steps"]) == (4, 2, [1, 2])
    record = json.loads((study / "results" / "finetune" / "dpo_epochs" / "train_log.json").read_text())
    assert record["global_step"] == 2 and adapters(study, "dpo_epochs") == {"step-1", "step-2"}
    metrics = read_metrics(study, "ideology")
    assert set(metrics.model) == {"tiny", "dpo_epochs/step-1", "dpo_epochs/step-2", "sft_fixed/step-2"}
    assert "dpo_epochs/step-3" not in set(read_model_table(study / "results" / "models.csv").model)
    # the fixed run trains other data: untouched
    assert (study / "results" / "finetune" / "sft_fixed" / "train_log.json").stat().st_mtime_ns == before


def test_default_study_dry_run_lists_every_checkpoint():
    # fixed-step runs: the whole DAG before any data exists (dpo_left/right save 90 and
    # their last step 150; sft_left its last, 24)
    counts = plan_study(REPO / "config" / "config.yaml")
    assert counts["plan_run"] == 3 and counts["finetune"] == 3
    assert counts["evaluate"] == 1 + 2 + 2 + 1 and counts["analyze"] == 3


# --- refused when the study is planned -----------------------------------------------------

def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def small_config(tmp_path: Path, **run) -> dict:
    """The default study's model (never fetched in a dry run) with one run on a small dataset."""
    cfg = default_config()
    cfg["datasets"] = {"questionnaire": {"loader": "questionnaire", "path": str(REPO / "data/ideology/questionnaire.csv")},
                       "prefs": {"loader": "policy_stances", "path": str(write_rows(tmp_path / "prefs.jsonl", 6))}}
    model = next(iter(cfg["models"]))
    cfg["finetune"] = {"bad": {"base": model, "recipe": str(REPO / "config/recipes/dpo-lora.yaml"), "data": "prefs",
                               "direction": "left", **run}}
    cfg["probes"], cfg["figures"] = {"ideology": {}}, ["ideology_trajectory"]
    return cfg


def test_a_negative_max_steps_is_refused_naming_the_run_and_recipe(tmp_path):
    write_config(tmp_path, small_config(tmp_path, overrides={"training": {"max_steps": -5}}))
    result = run_snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (f"finetune.bad (recipe {REPO / 'config/recipes/dpo-lora.yaml'}): training.max_steps must be a positive "
            f"whole number, not -5") in output, output[-3000:]
    assert "Job stats" not in output  # refused while parsing: nothing planned


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 0, "training": {"max_steps": None}}, "epochs must be a positive whole number, not 0"),
    ({"epochs": 2.5, "training": {"max_steps": None}}, "epochs must be a positive whole number, not 2.5"),
    ({"training": {"max_steps": True}}, "training.max_steps must be a positive whole number, not True"),
    ({"training": {"gradient_accumulation_steps": 0}},
     "training.gradient_accumulation_steps must be a positive whole number, not 0"),
    ({"epochs": 2}, "sets both epochs (2) and training.max_steps (150)"),
    ({"training": {"max_steps": None}}, "neither epochs nor training.max_steps is set"),
    ({"training": {"num_train_epochs": 3}}, "training.num_train_epochs is not used"),
], ids=["zero-epochs", "fractional-epochs", "boolean", "zero-accumulation", "both", "neither", "hf-epochs"])
def test_bad_step_settings_are_refused_when_the_study_is_parsed(tmp_path, overrides, message):
    from alignshift import registry

    # what common.smk runs on every run before any job (the negative case above end to end)
    cfg = small_config(tmp_path, overrides=overrides)
    with pytest.raises(planning.PlanError) as refused:
        registry.build(cfg, REPO)
    assert str(refused.value).startswith(f"finetune.bad (recipe {REPO / 'config/recipes/dpo-lora.yaml'}): {message}")


def test_a_save_step_of_zero_is_refused_by_the_schema(tmp_path):
    write_config(tmp_path, small_config(tmp_path, save_steps=[0, 10]))
    result = run_snakemake(tmp_path, "-n")
    assert result.returncode != 0 and "save_steps" in result.stdout + result.stderr


def test_data_too_small_for_one_step_is_refused_before_training(tmp_path):
    # 1 epoch over 6 rows at 4 per micro-batch, 4 accumulated: ceil(6/4) // 4 = 0 steps
    cfg = small_config(tmp_path, overrides={"epochs": 1, "training": {"max_steps": None, "per_device_train_batch_size": 4,
                                                                      "gradient_accumulation_steps": 4}})
    write_config(tmp_path, cfg)
    result = run_snakemake(tmp_path, "--cores", "1", planning.plan_path("bad"))
    assert result.returncode != 0
    log = (tmp_path / "results" / "logs" / "plan_run" / "bad.log").read_text()
    assert "its data (prefs) has 6 training rows" in log and "give no optimizer step" in log
    assert "one step needs at least 13 rows" in log
    assert not (tmp_path / "results" / "finetune" / "bad" / "adapters").exists()


def posts_study(tmp_path: Path) -> dict:
    """A run on a synthesized set whose posts are provided by hand (not there yet) beside
    a run on a shipped dataset."""
    cfg = small_config(tmp_path, overrides={"training": {"max_steps": 2}})
    model = next(iter(cfg["models"]))
    cfg["datasets"]["posts"] = {"loader": "posts", "path": str(tmp_path / "posts" / "mine.jsonl"), "manual": True}
    cfg["synthesis"] = {"synth_left": {"teacher": model, "posts": "posts", "ideology": "left"}}
    cfg["finetune"]["on_posts"] = {**cfg["finetune"]["bad"], "data": "synth_left.phase1", "recipe":
                                   str(REPO / "config/recipes/sft-lora.yaml")}
    return cfg


def test_a_run_whose_hand_provided_data_is_missing_leaves_the_targets_with_one_message(tmp_path):
    write_config(tmp_path, posts_study(tmp_path))
    result = run_snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    missing = tmp_path / "posts" / "mine.jsonl"
    assert output.count("left out of this study's targets") == 1
    assert f"datasets.posts.path: {missing} does not exist (a `posts` dataset provided by hand" in output
    assert "needed by on_posts" in output and "one JSON object per line with `id` and `text`" in output
    counts = job_counts(output)
    assert counts["plan_run"] == 1 and "filter_posts" not in counts and "synthesize" not in counts
    assert "on_posts" not in "".join(line for line in output.splitlines() if line.strip().startswith("wildcards"))
    # asked for by name, it is refused when the DAG is built (before any job), naming the file
    for target in (planning.plan_path("on_posts"), "results/data/synth_left.phase1.parquet"):
        asked = run_snakemake(tmp_path, "-n", target)
        assert asked.returncode != 0 and f"{missing} does not exist" in asked.stdout + asked.stderr, target
    # once the posts are there, the run joins the targets
    missing.parent.mkdir()
    missing.write_text((REPO / "data" / "posts" / "sample.jsonl").read_text())
    result = run_snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "left out of this study's targets" not in output
    counts = job_counts(output)
    assert counts["plan_run"] == 2 and counts["filter_posts"] == 1 and counts["synthesize"] == 1


def test_a_probe_whose_hand_provided_data_is_missing_plans_and_a_real_run_stops_before_any_job(tmp_path):
    # a probe reads it (as the dialect probes read MD3): the study plans whole, with a warning
    cfg = small_config(tmp_path)
    cfg["finetune"], missing = {}, tmp_path / "md3"
    cfg["datasets"]["questionnaire"] = {"loader": "questionnaire", "path": str(missing), "manual": True}
    write_config(tmp_path, cfg)
    plan = run_snakemake(tmp_path, "-n")
    output = plan.stdout + plan.stderr
    assert plan.returncode == 0, output[-3000:]
    assert job_counts(output)["prepare_data"] == 1
    said = f"datasets.questionnaire.path: {missing} does not exist (a `questionnaire` dataset provided by hand"
    assert said in output and "the probes that read it cannot run until it is there" in output
    # a real run is refused once the DAG is built, before its first job (the model's fetch)
    run = run_snakemake(tmp_path, "--cores", "1")
    output = run.stdout + run.stderr
    assert run.returncode != 0 and said in output and "Jobs of this run need it" in output, output[-3000:]
    assert not (tmp_path / "results" / "logs").exists() and not (tmp_path / "resources").exists()


def test_a_stale_plan_stops_the_job_instead_of_training_another_count():
    run = {"recipe": "r.yaml", "data": "d", "save_steps": 2}
    recipe = {"method": "dpo", "epochs": 2, "training": {"per_device_train_batch_size": 4}}
    made = planning.run_plan("r", run, recipe, rows=10)  # 2 x ceil(10/4) = 6 steps
    assert (made["max_steps"], made["checkpoint_steps"]) == (6, [2, 4, 6])
    trained = planning.planned_recipe("r", run, recipe, made, rows=10)
    assert trained["training"]["max_steps"] == 6 and "max_steps" not in recipe["training"]
    with pytest.raises(planning.PlanError, match=r"rows 10 planned, 12 now\. Plan it again"):
        planning.planned_recipe("r", run, recipe, made, rows=12)
    with pytest.raises(planning.PlanError, match=r"max_steps 6 planned, 8 now.*plan_run"):
        planning.planned_recipe("r", run, recipe, made, rows=16)
    # a fixed-step run's plan is known without its data
    fixed = planning.run_plan("f", {**run, "save_steps": [3, 99]}, {"method": "sft", "training": {"max_steps": 5}})
    assert (fixed["rows"], fixed["max_steps"], fixed["checkpoint_steps"]) == (None, 5, [3, 5])
    assert planning.run_plan("r", run, recipe) is None
