"""Errors that name the file, where in it, and what to do (issue: nothing silently wrong)."""

import pytest

from alignshift import registry
from alignshift.models.fetch import read_manifest
from alignshift.models.spec import ModelLoadError
from alignshift.yaml_files import YamlFileError, read_yaml


@pytest.mark.parametrize("text, message", [
    (b"models:\n  a: {id: x\n", ", line 3, column 1: expected ',' or '}', but got '<stream end>' "
                                 "(while parsing a flow mapping that opened on line 2)"),
    (b"a: 1\n\tb: 2\n", ", line 2, column 1: found character '\\t' that cannot start any token "
                           "(while scanning for the next token)"),
    # the same words as every other file the project reads (tables.decode_utf8)
    (b"a: 1\nb: caf\xe9\n", ": line 2 is not UTF-8 (invalid continuation byte); save the file as UTF-8 "
                             "(e.g. iconv -f latin1 -t utf-8)"),
])
def test_a_broken_yaml_file_is_named_with_its_line(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(text)
    with pytest.raises(YamlFileError) as err:
        read_yaml(path, "recipe")
    assert str(err.value) == f"recipe {path}{message}"
    # as a run's recipe
    with pytest.raises(YamlFileError, match=f"^recipe {path}[,:] line"):
        registry.recipe({"recipe": str(path)})


@pytest.mark.parametrize("text", ['{"path": "/m", "revis', "", "[1, 2]", '{"revision": "x"}'])
def test_a_garbled_manifest_names_its_file_and_how_to_fetch_again(tmp_path, text):
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(ModelLoadError) as err:
        read_manifest(path)
    assert str(err.value).startswith(f"{path}: unreadable model manifest (")
    assert "written by rule fetch_model" in str(err.value) and f"rm {path}" in str(err.value)


def test_a_latin1_input_csv_is_named_with_its_line(tmp_path):
    from alignshift import data
    from alignshift.data.checks import DataError

    path = tmp_path / "questionnaire.csv"
    path.write_bytes("id,statement,axis,direction\ns1,Taxes are fine,economic,1\ns2,Caf\u00e9 owners pay too much,economic,-1\n"
                     .encode("latin-1"))
    with pytest.raises(DataError) as err:
        data.prepare({"loader": "questionnaire", "path": str(path)})
    assert str(err.value).startswith(f"{path}: line 3 is not UTF-8 (invalid continuation byte); save the file as UTF-8")
