"""Text from models is hostile input: every writer and reader of the project keeps it
exactly (control characters, line separators, quotes, delimiters, empty, 100 kB), and
the one character class no UTF-8 file can hold, a lone surrogate, becomes U+FFFD
without losing its row (docs/reliability.md)."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignshift.cache import JsonlCache
from alignshift.provenance import write_table
from alignshift.tables import read_csv, utf8_safe, write_csv

HOSTILE = ["x\ry", "a\r\nb", "\r", "\n", "nul\x00here", "esc\x1b[31mred", 'q"uo"te', '"', "de,li;m\tt", "",
           " ", "  lead and trail  ", "NA", "nan", "NaN", "None", "null", "12", "-3.5e2", "True", "#comment",
           "\u2028line\u2029para", "\x85nel\x1c\x1d\x1e", "\ufeffbom", "emoji 😀 中文 عربى", "$x^2$ \\frac{",
           "<script>alert(1)</script> &amp;", "x" * 100_000]
LONE = "lone \ud800 surrogate"
# any text, control characters and unassigned code points included (hypothesis leaves
# out surrogates: those are tested on their own)
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=["Cs"]), max_size=200)


def hostile_frame(texts) -> pd.DataFrame:
    texts = list(texts)
    n = len(texts)
    return pd.DataFrame({"model": [f"m{i % 3}" for i in range(n)], "answer": pd.Series(texts, dtype=object),
                         "step": np.arange(n), "score": [0.25 * i if i % 4 else np.nan for i in range(n)],
                         "flag": [i % 2 == 0 for i in range(n)], "missing": np.nan,
                         "blank": pd.Series([""] * n, dtype=object)})


def assert_same(back: pd.DataFrame, table: pd.DataFrame, expected_text=None) -> None:
    assert len(back) == len(table) and list(back.columns) == list(table.columns)
    assert back["answer"].tolist() == (expected_text or table["answer"].tolist())
    assert back["model"].tolist() == table["model"].tolist()
    assert back["step"].tolist() == table["step"].tolist() and back["step"].dtype.kind == "i"
    np.testing.assert_array_equal(back["score"].to_numpy(float), table["score"].to_numpy(float))
    assert back["flag"].tolist() == table["flag"].tolist()
    assert back["missing"].isna().all() and back["blank"].tolist() == [""] * len(table)


def test_csv_keeps_every_hostile_text(tmp_path):
    table = hostile_frame(HOSTILE)
    write_csv(table, tmp_path / "t.csv")
    assert_same(read_csv(tmp_path / "t.csv"), table)
    # any CSV reader sees one row per row (pandas' default one split rows at a bare \r)
    assert len(pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)) == len(table)
    assert pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)["answer"].tolist() == HOSTILE


def test_pandas_default_csv_loses_rows_this_writer_keeps():
    # the failure this module exists for: three rows read back from two
    assert len(pd.read_csv(io.StringIO(pd.DataFrame({"a": ["x\ry", "z"]}).to_csv(index=False)))) == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=8))
def test_csv_round_trips_any_text(tmp_path, texts):
    table = hostile_frame(texts)
    write_csv(table, tmp_path / "t.csv")
    assert_same(read_csv(tmp_path / "t.csv"), table)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=8))
def test_parquet_round_trips_any_text(tmp_path, texts):
    table = hostile_frame(texts)
    write_table(table, tmp_path / "t.parquet", {"probe": "judge"})
    assert_same(pd.read_parquet(tmp_path / "t.parquet"), table)


def test_lone_surrogate_becomes_replacement_character_in_every_table(tmp_path):
    table = hostile_frame([LONE, "fine"])
    expected = [LONE.replace("\ud800", "\ufffd"), "fine"]
    write_csv(table, tmp_path / "t.csv")
    assert_same(read_csv(tmp_path / "t.csv"), table, expected)
    write_table(table, tmp_path / "t.parquet", {})
    assert_same(pd.read_parquet(tmp_path / "t.parquet"), table, expected)
    assert utf8_safe("a\udfffb\ud83d") == "a\ufffdb\ufffd" and utf8_safe("😀") == "😀"


def test_cache_keeps_every_hostile_text_and_lone_surrogates(tmp_path):
    values = HOSTILE + [LONE]
    cache = JsonlCache(tmp_path / "c.jsonl")
    cache.put((f"k{i}", {"answer": v}) for i, v in enumerate(values))
    # one record per line whatever the text (str.splitlines would split at U+2028, \x85, \x1c)
    assert len((tmp_path / "c.jsonl").read_bytes().split(b"\n")) == len(values) + 1
    again = JsonlCache(tmp_path / "c.jsonl")
    assert [again.get(f"k{i}")["answer"] for i in range(len(values))] == values


def test_cache_append_after_torn_line_keeps_the_new_record(tmp_path):
    path = tmp_path / "c.jsonl"
    JsonlCache(path).put([("a", 1.0)])
    with open(path, "ab") as fh:  # a job killed mid-write (or a full disk) left half a record
        fh.write(b'{"key": "b", "val')
    JsonlCache(path).put([("c", 3.0)])
    again = JsonlCache(path)
    assert again.values == {"a": 1.0, "c": 3.0}


def test_report_table_shows_every_row_escaped(tmp_path):
    from alignshift.report import metrics_table_html

    table = hostile_frame(HOSTILE)
    write_csv(table, tmp_path / "judge.csv")
    metrics_table_html(tmp_path / "judge.csv", tmp_path / "judge.html")
    page = (tmp_path / "judge.html").read_text(encoding="utf-8")
    assert page.count("<tr") == len(table) + 1  # header + one per row
    assert "<script>" not in page and "&lt;script&gt;" in page
    # control characters shown as escapes, not raw (a NUL is an HTML parse error)
    assert "\x00" not in page and "\x1b" not in page and "nul\\x00here" in page and "esc\\x1b[31mred" in page
    assert f"{len(table)} rows" in page


def test_jsonl_input_keeps_text_and_replaces_lone_surrogates(tmp_path):
    from alignshift.data.checks import read_jsonl

    path = tmp_path / "posts.jsonl"
    texts = HOSTILE + [LONE]
    path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)),
                    encoding="utf-8")
    assert read_jsonl(str(path))["text"].tolist() == HOSTILE + [utf8_safe(LONE)]


def test_api_judge_reply_with_lone_surrogate_is_kept(tmp_path):
    from alignshift.probes.judge.judging import api_judge_answers

    judging = {"backend": "openai", "system_prompt": "Score it.", "prompt": "{answer}", "scale_max": 20,
               "api": {"base_url": "http://judge.invalid/v1", "model": "gpt-4", "key_env": None}}
    answered = pd.DataFrame({"model": ["m"] * 3, "item": ["a", "b", "c"], "variant": ["s0"] * 3,
                             "answer": ["x\ry", "", "nul\x00"]})
    replies = iter(["7 \ud800", "", "\r\n15\x1b"])

    def complete(api, messages, key):
        # what chat_completion hands on from a JSON reply: made UTF-8-safe there
        return {"reply": utf8_safe(next(replies)), "model": "gpt-4-0613"}

    scored = api_judge_answers(judging, answered, tmp_path / "cache.jsonl", complete=complete)
    assert scored["judge_reply"].tolist() == ["7 \ufffd", "", "\r\n15\x1b"]
    assert scored["judge_score"].tolist()[::2] == [7.0, 15.0] and np.isnan(scored["judge_score"].iloc[1])
    write_table(scored, tmp_path / "judged.parquet", {})
    assert pd.read_parquet(tmp_path / "judged.parquet")["answer"].tolist() == ["x\ry", "", "nul\x00"]


def test_judge_figures_draw_hostile_answers(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from alignshift.figures import draw
    from alignshift.registry import MODEL_COLUMNS

    models = pd.DataFrame([
        {**dict.fromkeys(MODEL_COLUMNS, ""), "model": "base", "step": 0, "stage": "base", "kind": "causal_lm",
         "chat_template": True, "evaluated": True},
        {**dict.fromkeys(MODEL_COLUMNS, ""), "model": "r/step-2", "parent": "base", "baseline": "base",
         "run": "r", "step": 2, "direction": "right", "stage": "pt", "kind": "causal_lm", "chat_template": True,
         "evaluated": True}])
    rows = []
    for model in ("base", "r/step-2"):
        for i, answer in enumerate(HOSTILE[:12] + ["$x^2$ \\frac{", ""]):
            rows.append({"model": model, "item": f"p{i}", "judge_score": 10.0 + i % 3, "n_answers": 1,
                         "n_scored": 1, "question": f"Q{i}\r?", "answer": answer, "judge_model": "j",
                         "judge_revision": "r", "run": "r" if model != "base" else "", "step": 2 if model != "base" else 0,
                         "stage": "pt", "parent": "base" if model != "base" else "", "ci_low": 9.0, "ci_high": 12.0})
        rows.append({"model": model, "item": "all", "judge_score": 11.0, "ci_low": 10.0, "ci_high": 12.0,
                     "question": "", "answer": "", "judge_model": "j", "judge_revision": "r",
                     "run": "r" if model != "base" else "", "step": 2 if model != "base" else 0,
                     "stage": "pt", "parent": "base" if model != "base" else ""})
    write_csv(pd.DataFrame(rows), tmp_path / "judge.csv")
    write_csv(models, tmp_path / "models.csv")
    for name in ("judge_answers", "judge_trajectory"):
        draw(name, {"judge": str(tmp_path / "judge.csv")}, str(tmp_path / "models.csv"),
             str(tmp_path / f"{name}.pdf"), str(tmp_path / f"{name}.png"))
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_non_utf8_table_names_file(tmp_path, encoding):
    from alignshift.tables import TableError

    path = tmp_path / "judge.csv"
    path.write_bytes("model,answer\nm,caf\u00e9 \u00fcber\n".encode(encoding))
    with pytest.raises(TableError, match=r"judge\.csv: line [12] is not UTF-8.*save the file as UTF-8"):
        read_csv(path)
