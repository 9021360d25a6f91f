"""The prompts an evaluation records (alignshift.probes.run_with_prompts) on hostile
text, for a generating probe, and a probe whose rows lose their prompt. The whole-DAG
checks are in the study tests (tests/recorded_prompts.py)."""

import dataclasses

import pandas as pd
import pytest

from alignshift import probes
from alignshift.probes import PROMPT_COLUMNS, ProbeError
from alignshift.provenance import read_provenance, stable_hash, write_table
from test_hostile_text import HOSTILE

# model text a questionnaire could carry (a lone surrogate no tokenizer takes is left to
# tests/test_hostile_text.py; the 100 kB one would only slow the tiny model down)
STATEMENTS = [t for t in HOSTILE if len(t) < 1000]


def test_hostile_prompts_are_recorded_exactly(tiny_lm, tmp_path):
    table = pd.DataFrame({"id": [f"s{i}" for i in range(len(STATEMENTS))], "statement": STATEMENTS,
                          "axis": "economic", "direction": 1})
    spec = probes.resolve_spec("ideology", {"orders": ["ascending"]})
    evaluation = probes.run_with_prompts("ideology", spec, {"questionnaire": table}, tiny_lm, progress=False)
    write_table(evaluation.prompts, tmp_path / "prompts.parquet", {"prompts": evaluation.settings})
    back = pd.read_parquet(tmp_path / "prompts.parquet")
    assert list(back.columns) == PROMPT_COLUMNS and len(back) == len(STATEMENTS)
    fmt = probes.formatter(spec, tiny_lm.tokenizer, tiny_lm.spec)
    expected = [fmt(spec["prompt"].format(statement=s, options=", ".join(spec["options"]))) for s in STATEMENTS]
    assert back["prompt"].tolist() == expected
    assert back["prompt_hash"].tolist() == [stable_hash(p) for p in expected]
    assert [list(ids) for ids in back["token_ids"]] == [tiny_lm.tokenizer(p, add_special_tokens=False).input_ids
                                                        for p in expected]
    # every score row joins exactly one recorded prompt: 4 options each
    joined = evaluation.scores.merge(back, on="prompt_hash", validate="many_to_one")
    assert len(joined) == len(evaluation.scores) and joined.groupby("prompt_hash").size().eq(4).all()
    assert read_provenance(tmp_path / "prompts.parquet")["prompts"]["scoring_path"] == "loglik"


def test_generated_answers_keep_their_prompt(tiny_lm):
    spec = probes.resolve_spec("judge", {"prompts": [{"id": "q", "text": "Who are you?"}], "max_new_tokens": 3,
                                         "samples": 2, "do_sample": True})
    evaluation = probes.run_with_prompts("judge", probes.evaluation_spec(spec), {}, tiny_lm, progress=False)
    prompt = probes.formatter(spec, tiny_lm.tokenizer, tiny_lm.spec)("Who are you?")
    assert evaluation.prompts["prompt"].tolist() == [prompt]
    assert evaluation.scores["prompt_hash"].tolist() == [stable_hash(prompt)] * 2  # two samples of one prompt
    assert "prompt" not in evaluation.scores and evaluation.settings["scoring_path"] == "generate"


def test_rows_without_their_prompt_are_refused(tiny_lm, monkeypatch):
    judge = probes.protocol("judge")
    without_prompt = dataclasses.replace(judge, generate=lambda *args: pd.DataFrame({"item": ["q"], "answer": ["a"]}))
    monkeypatch.setattr(probes, "protocol", lambda name: without_prompt)
    with pytest.raises(ProbeError, match="probe judge: its rows have no `prompt` column"):
        probes.run_with_prompts("judge", probes.resolve_spec("judge", {}), {}, tiny_lm, progress=False)
