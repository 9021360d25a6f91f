"""Bad input stops with a message naming the file, row or key."""

import json
import shutil

import pandas as pd
import pytest
import yaml

from alignshift import data, probes
from alignshift.models.fetch import fetch
from alignshift.models.spec import ModelLoadError, ModelSpec
from alignshift.models.weights import check_safetensors
from conftest import REPO


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("id,axis,statement\ne1,economic,Taxes are good.\n")
    with pytest.raises(data.DataError, match=r"q\.csv.*missing column.*direction"):
        data.prepare({"loader": "questionnaire", "path": str(path)})


def test_bad_value_names_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("id,axis,direction,statement\ne1,economic,1,A.\ne2,cultural,1,B.\n")
    with pytest.raises(data.DataError, match=r"row 3 has axis='cultural'"):
        data.prepare({"loader": "questionnaire", "path": str(path)})


def test_template_without_country_slot(tmp_path):
    path = tmp_path / "questions.csv"
    path.write_text("id,question,template,sentiment,category\n"
                    "q1,Best food?,{country} has the best food.,positive,Cuisine\n"
                    "q2,Worst weather?,The weather is awful there.,negative,Climate\n")
    with pytest.raises(data.DataError, match=r"row 3 template .* must contain \{country\}"):
        data.prepare({"loader": "country_questions", "path": str(path)})


def test_invalid_jsonl_line_is_named(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "axis": "economic", "prompt": "p", "left": "l", "right": "r"}\n{"id": "b",\n')
    with pytest.raises(data.DataError, match=r"p\.jsonl: line 2 is not valid JSON"):
        data.prepare({"loader": "policy_stances", "path": str(path)})


def test_empty_probe_is_an_error():
    tables = {"questionnaire": pd.DataFrame(columns=["id", "axis", "direction", "statement"])}
    with pytest.raises(probes.ProbeError, match="no items"):
        probes.build("ideology", probes.resolve_spec("ideology", {}), tables, lambda u, assistant_prefix="": u)


def test_unknown_probe_setting_is_named():
    with pytest.raises(probes.ProbeError, match=r"probes\.ideology\.optoins"):
        probes.resolve_spec("ideology", {"optoins": ["yes", "no"]})


def test_settings_group_overrides_merge_and_unknown_keys_are_named():
    spec = probes.resolve_spec("judge", {"judging": {"model": "helper"}})
    assert spec["judging"]["model"] == "helper" and spec["judging"]["scale_max"] == 20  # defaults kept
    assert "judging" not in probes.evaluation_spec(spec)  # judging never shapes the answers
    with pytest.raises(probes.ProbeError, match=r"probes\.judge\.judging\.modle"):
        probes.resolve_spec("judge", {"judging": {"modle": "helper"}})


def test_truncated_safetensors_is_refused(tiny_model_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(tiny_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors: truncated"):
        check_safetensors(weights)
    with pytest.raises(ModelLoadError, match="truncated"):
        fetch(ModelSpec(name="broken", id=str(broken)), tmp_path / "out", tmp_path / "hub")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_pickle_weights_refused_unless_opted_in(tiny_model_dir, tmp_path):
    model = tmp_path / "pickled"
    model.mkdir()
    for f in tiny_model_dir.iterdir():
        if f.suffix != ".safetensors":
            shutil.copy(f, model / f.name)
    (model / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelLoadError, match="pickle"):
        fetch(ModelSpec(name="p", id=str(model)), tmp_path / "out", tmp_path / "hub")


def test_truncated_gguf_is_refused(tmp_path):
    from alignshift.models.fetch import _check_gguf

    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 7)
    with pytest.raises(ModelLoadError, match=r"model\.gguf: unreadable or truncated GGUF"):
        _check_gguf(path)


def test_unknown_hub_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"model nosuch: cannot fetch hub id 'no-such-org/no-such-model'"):
        fetch(ModelSpec(name="nosuch", id="no-such-org/no-such-model"), tmp_path / "out", tmp_path / "hub")


def test_hub_token_never_reaches_errors_or_outputs(tmp_path, monkeypatch, caplog):
    secret = "hf_SECRETtoken0123456789"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as failure:
        fetch(ModelSpec(name="gated", id="some-org/gated-model"), tmp_path / "out", tmp_path / "hub")
    assert secret not in str(failure.value)
    assert secret not in caplog.text
    assert not any(secret in p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize("opt_in", [False, True])
def test_remote_code_runs_only_when_a_model_opts_in(tiny_model_dir, tmp_path, monkeypatch, opt_in):
    import transformers

    from alignshift.models.load import load

    seen = {}
    original = transformers.AutoModelForCausalLM.from_pretrained

    def recording(path, **kwargs):
        seen.update(kwargs)
        return original(path, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", recording)
    entry = {"id": str(tiny_model_dir), "dtype": "float32", **({"trust_remote_code": True} if opt_in else {})}
    spec = ModelSpec.from_config("m", entry)
    load(fetch(spec, tmp_path / "out", tmp_path / "hub"), spec, device="cpu")
    assert seen["trust_remote_code"] is opt_in
    assert seen["use_safetensors"] is True  # pickle weights stay refused unless allow_pickle


def test_fictional_control_can_be_a_subset_and_unknown_ids_are_named():
    from alignshift.probes.country_pairs import items as country_pairs

    bank = data.prepare({"loader": "scenarios", "path": str(REPO / "data/country_pairs/scenarios.yaml")})
    spec = {**probes.resolve_spec("country_pairs", {}), "countries": ["USA", "China"]}
    assert country_pairs.pairs({**spec, "fictional": ["Veldoria", "Lunavar", "Kestrania"]}, bank) == [
        ("USA", "China", False), ("Veldoria", "Lunavar", True), ("Veldoria", "Kestrania", True),
        ("Lunavar", "Kestrania", True)]
    assert len(country_pairs.pairs(spec, bank)) == 1 + 66  # true: all 12 fictional countries (the project's 4, the paper's 8)
    with pytest.raises(probes.ProbeError, match=r"probes\.country_pairs\.fictional: unknown \['Atlantis'\]"):
        country_pairs.pairs({**spec, "fictional": ["Veldoria", "Atlantis"]}, bank)


def test_stance_statements_are_asked_in_every_wording_with_mirrored_answers(tmp_path):
    from alignshift.data.shipped import load_stances, load_wordings, stance_pairs

    stances = tmp_path / "s.csv"
    stances.write_text("id,axis,statement,left,left_reason,right_reason\n"
                       "s1,economic,Bus fares should be free.,Agree,Mobility is a right.,Someone has to pay.\n"
                       "s2,social,Curfews are good.,Strongly disagree,,\n")
    wordings = tmp_path / "w.yaml"
    wordings.write_text(yaml.safe_dump({"options": ["Strongly disagree", "Disagree", "Agree", "Strongly agree"],
                                        "wordings": [{"prompt": "Agree? {statement}", "answer": "reasoned"},
                                                     {"prompt": "{statement} ({options})", "answer": "label"}]}))
    rows = stance_pairs(load_stances(str(stances)), load_wordings(str(wordings)), seed=0).set_index("id")
    assert list(rows.index) == ["s1-w0", "s1-w1", "s2-w0", "s2-w1"]
    assert rows.loc["s1-w0", "prompt"] == "Agree? Bus fares should be free."
    assert (rows.loc["s1-w0", "left"], rows.loc["s1-w0", "right"]) == ("Agree. Mobility is a right.", "Disagree. Someone has to pay.")
    assert (rows.loc["s1-w1", "left"], rows.loc["s1-w1", "right"]) == ("Agree.", "Disagree.")
    # no reason given: the label alone even in a reasoned wording; the right side mirrors the left
    assert (rows.loc["s2-w0", "left"], rows.loc["s2-w0", "right"]) == ("Strongly disagree.", "Strongly agree.")
    listed = rows.loc["s2-w1", "prompt"].split("(")[1].rstrip(")").split(", ")
    assert listed in (["Strongly disagree", "Disagree", "Agree", "Strongly agree"],
                      ["Strongly agree", "Agree", "Disagree", "Strongly disagree"])
    wordings.write_text(yaml.safe_dump({"options": ["Yes", "No"], "wordings": [{"prompt": "{statement}", "answer": "label"}]}))
    with pytest.raises(data.DataError, match="options"):
        load_wordings(str(wordings))


def test_shipped_preferences_are_balanced_and_never_the_questionnaire():
    table = data.prepare({"loader": "policy_stances", "path": str(REPO / "data/preferences/policy_stances.jsonl"),
                          "stances": str(REPO / "data/preferences/stances.csv"),
                          "wordings": str(REPO / "data/preferences/wordings.yaml")})
    assert len(table) == 57 + 108 * 6
    from alignshift.data.shipped import load_stances

    stances = load_stances(str(REPO / "data/preferences/stances.csv"))
    agrees = stances["left"].isin(["Agree", "Strongly agree"])
    # as many left answers that agree as that disagree on each axis, so no run can lower
    # its loss by learning one answer for everything
    assert (agrees.groupby(stances["axis"]).mean() == 0.5).all()
    questionnaire = set(data.prepare({"loader": "questionnaire",
                                      "path": str(REPO / "data/ideology/questionnaire.csv")})["statement"])
    assert not questionnaire & set(stances["statement"])
    assert not any(q in prompt for q in questionnaire for prompt in table["prompt"])


def test_a_probe_checks_its_settings_against_the_study_models():
    spec = probes.resolve_spec("judge", {"judging": {"model": "helper"}})
    probes.check("judge", spec, {"helper": None, "student": None})
    with pytest.raises(probes.ProbeError, match=r"judging.model: 'helper' is not a model of this study"):
        probes.check("judge", spec, {"student": None})
    with pytest.raises(probes.ProbeError, match="backend"):
        probes.check("judge", probes.resolve_spec("judge", {"judging": {"backend": "grpc"}}), {})
    probes.check("ideology", probes.resolve_spec("ideology", {}), {})  # no check of its own


def test_policy_stances_keep_the_axes_asked_for():
    entry = {"loader": "policy_stances", "path": str(REPO / "data/preferences/policy_stances.jsonl"),
             "stances": str(REPO / "data/preferences/stances.csv"),
             "wordings": str(REPO / "data/preferences/wordings.yaml")}
    economic = data.prepare({**entry, "axes": ["economic"]})
    # the 31 economic open questions and the 58 economic statements in six wordings
    assert len(economic) == 31 + 58 * 6
    assert set(economic["axis"]) == {"economic"}
    everything = data.prepare(entry)
    assert economic["id"].tolist() == everything.loc[everything["axis"] == "economic", "id"].tolist()
    with pytest.raises(data.DataError, match=r"`axes` must list some of \['economic', 'social'\], not \['cultural'\]"):
        data.prepare({**entry, "axes": ["cultural"]})


def test_policy_stances_refuse_an_unknown_axis_when_keeping_some(tmp_path):
    rows = [{"id": "q1", "axis": "economic", "prompt": "Tax wealth?", "left": "Yes.", "right": "No."},
            {"id": "q2", "axis": "econmic", "prompt": "Cap rents?", "left": "Yes.", "right": "No."}]
    path = tmp_path / "stances.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    entry = {"loader": "policy_stances", "path": str(path)}
    assert len(data.prepare(entry)) == 2  # without `axes` any axis label is a label
    with pytest.raises(data.DataError, match=r"line 2 has axis 'econmic'"):
        data.prepare({**entry, "axes": ["economic"]})
