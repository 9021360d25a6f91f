"""The extractive_qa probe's released outputs (alignshift.data.released).

Format `unintended_impacts`: `outputs/tydiqa-goldp/{<stem>}/greedy/1-shot/<language>.json`
({id: raw generation}) with the gold answers of
`data/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-<language>.json`; the answer is the
generation cut at its first blank line (the authors' postprocessing), scored by the
probe's own EM and F1; CFMatch then runs as for a real run (rule cfmatch).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ...data.checks import DataError
from ...data.hub import TYDIQA_LANGUAGES
from ...data.released import Converter
from .items import exact_match, f1


TYDIQA_GOLD = "data/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{language}.json"


def unintended_impacts(fetch, entry: dict, spec: dict, tables: dict, source: dict) -> pd.DataFrame:
    rows = []
    for language in entry.get("languages") or TYDIQA_LANGUAGES:
        gold_path, _ = fetch((entry.get("gold") or TYDIQA_GOLD).format(language=language))
        pred_path, _ = fetch(f"{entry['path'].rstrip('/')}/{language}.json")
        predictions = json.loads(Path(pred_path).read_text(encoding="utf-8"))
        for article in json.loads(Path(gold_path).read_text(encoding="utf-8"))["data"]:
            for para in article["paragraphs"]:
                for qa in para["qas"]:
                    golds = [a["text"] for a in qa["answers"]]
                    if qa["id"] not in predictions:
                        raise DataError(f"{pred_path}: no prediction for {qa['id']}")
                    # the authors' postprocessing: the answer ends at the first blank line
                    answer = predictions[qa["id"]].split("\n\n")[0].strip()
                    rows.append({"item": qa["id"], "language": qa["id"].split("-", 1)[0], "question": qa["question"],
                                 "gold": golds, "variant": "", "candidate": "", "answer": answer,
                                 "em": exact_match(answer, golds), "f1": f1(answer, golds)})
    return pd.DataFrame(rows)


CONVERTERS = [Converter("unintended_impacts", unintended_impacts)]
