"""A model's settings survive every job boundary: the rules hand jobs `spec.to_dict()`,
jobs and manifests parse it back with `ModelSpec.from_dict` (issue 21: a prefill filed
under `extra` was lost on the way)."""

import dataclasses
import json

import pytest
import yaml

from alignshift import registry
from alignshift.models.spec import ModelSpec, ModelSpecError
from conftest import REPO

STUDY_FILES = sorted([REPO / "config" / "config.yaml", *(REPO / "config" / "studies").glob("*.yaml")])


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.stem)
def test_every_model_setting_of_every_study_crosses_job_boundaries(path):
    config = yaml.safe_load(path.read_text())
    models = registry.build(config, root=REPO)
    for name, entry in config["models"].items():
        spec = models[name]
        for key, value in entry.items():
            if key == "label":  # how figures name it: the model table's, never the spec's
                continue
            assert getattr(spec, key) == value, f"{path.name}: models.{name}.{key}"
    for name, spec in models.items():
        # what a rule's params and a manifest (JSON) carry, and what the job rebuilds
        assert ModelSpec.from_dict(spec.to_dict()) == spec
        assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_schema_model_settings_are_all_fields():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    settings = set(schema["properties"]["models"]["additionalProperties"]["properties"])
    assert settings - {"label"} <= set(ModelSpec.fields())


def test_a_models_label_names_it_in_the_model_table_and_leaves_its_spec_alone():
    config = yaml.safe_load((REPO / "config" / "studies" / "global-representation.yaml").read_text())
    models = registry.build(config, root=REPO)
    table = registry.model_table(models, labels=registry.labels(config)).set_index("model")
    assert table.loc["tulu-2-dpo-7b", "label"] == "Tülu 2 7B DPO"
    unlabelled = {**config, "models": {n: {k: v for k, v in e.items() if k != "label"}
                                       for n, e in config["models"].items()}}
    assert registry.build(unlabelled, root=REPO) == models  # evaluation params unchanged
    assert (registry.model_table(models, labels=registry.labels(unlabelled))["label"]
            == list(models)).all()  # no label: the model's name


def test_prefill_reaches_checkpoints_and_unknown_settings_are_named():
    config = yaml.safe_load((REPO / "config" / "studies" / "geopolitics.yaml").read_text())
    models = registry.build(config, root=REPO)
    assert models["glm-4-9b-chat"].answer_prefill == "\n" and models["yi-1.5-9b-chat"].answer_prefill == "("
    assert models["mistral-7b-instruct"].answer_prefill is None
    base = models["yi-1.5-9b-chat"]
    checkpoint = dataclasses.replace(base, name="r/step-1", adapter="a", run="r", step=1)
    assert ModelSpec.from_dict(checkpoint.to_dict()).answer_prefill == "("
    with pytest.raises(ModelSpecError, match=r"models\.m\.answer_prefil: unknown model setting"):
        ModelSpec.from_config("m", {"id": "x", "answer_prefil": "("})


def test_a_models_label_is_for_figures_not_part_of_its_spec():
    # a renamed model keeps its spec (and so its evaluations); a typo next to it is still refused
    spec = ModelSpec.from_config("m", {"id": "x", "label": "Model X"})
    assert spec == ModelSpec.from_config("m", {"id": "x"}) and "label" not in spec.to_dict()
    with pytest.raises(ModelSpecError, match="models.m.lable"):
        ModelSpec.from_config("m", {"id": "x", "lable": "Model X"})
