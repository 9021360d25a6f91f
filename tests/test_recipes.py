"""Recipes checked against trl's and peft's config classes when the study is planned."""

import copy

import pytest
import yaml

from alignshift import recipes
from conftest import REPO, run_snakemake, write_config

SHIPPED = sorted((REPO / "config" / "recipes").glob("*.yaml"))


def dpo_recipe() -> dict:
    return yaml.safe_load((REPO / "config" / "recipes" / "dpo-lora.yaml").read_text())


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_recipe_passes(path):
    recipes.check(yaml.safe_load(path.read_text()), str(path))


@pytest.mark.parametrize("section, key, value, message", [
    ("training", "learnin_rate", 1.0e-3, "training.learnin_rate is not a DPOConfig field (did you mean 'learning_rate'?)"),
    ("training", "learning_rate", "1e-3", "training.learning_rate is '1e-3' (str), but DPOConfig takes float"),
    ("training", "per_device_train_batch_size", 2.5, "training.per_device_train_batch_size is 2.5 (float)"),
    ("training", "lr_scheduler_type", "cosin", "cosin is not a valid SchedulerType"),
    ("lora", "rank", 8, "lora.rank is not a LoraConfig field"),
    ("lora", "r", "16", "lora.r is '16' (str), but LoraConfig takes int"),
])
def test_a_bad_key_or_value_is_named_with_its_run(section, key, value, message):
    recipe = dpo_recipe()
    recipe[section][key] = value
    with pytest.raises(recipes.RecipeError, match="^finetune.r \\(recipe r.yaml\\): ") as err:
        recipes.check(recipe, "finetune.r (recipe r.yaml)")
    assert message in str(err.value)


def test_sft_keys_are_checked_against_sftconfig():
    recipe = yaml.safe_load((REPO / "config" / "recipes" / "sft-lora.yaml").read_text())
    recipe["training"]["beta"] = 0.1  # a DPO setting
    with pytest.raises(recipes.RecipeError, match="training.beta is not a SFTConfig field"):
        recipes.check(recipe, "r")
    with pytest.raises(recipes.RecipeError, match="method must be one of \\['sft', 'dpo'\\], not 'ppo'"):
        recipes.check({**recipe, "method": "ppo"}, "r")
    with pytest.raises(recipes.RecipeError, match="unknown recipe key 'trainig'"):
        recipes.check({**recipe, "trainig": {}}, "r")


def test_the_workflow_refuses_a_bad_recipe_before_any_job_and_leaves_nothing(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    recipe = dpo_recipe()
    recipe["training"]["learnin_rate"] = recipe["training"].pop("learning_rate")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(recipe))
    for entry in cfg["finetune"].values():
        entry["recipe"] = str(REPO / entry["recipe"])
    run = next(iter(cfg["finetune"]))
    cfg["finetune"][run]["recipe"] = str(tmp_path / "bad.yaml")
    write_config(tmp_path, cfg)
    result = run_snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"finetune.{run} (recipe {tmp_path / 'bad.yaml'}): training.learnin_rate is not a DPOConfig field" in output
    assert "Job stats" not in output and not (tmp_path / "results").exists()
