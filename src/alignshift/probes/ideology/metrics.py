"""Two-axis coordinates, from Likert option log-probabilities or from generated answers.

A statement's agreement a_s in [-1, 1] is its expected option weight divided by the
largest weight of any option (2 on the project's scale (-2, -1, 1, 2); a scoring table's
largest weight):
- `logprob` reading: the option probabilities are the softmax of the options' summed
  log-probabilities (restricted to the options); the expected weight is averaged over
  the listing orders;
- `generated` reading: the weight of the option the answer names (0..3 = the k-th
  option), averaged over the answers that name one; a statement with none is left out
  (the tables count answers, `n_answers`, and those read, `n_parsed`).
An axis coordinate is 10 * mean_s(direction_s * a_s), in [-10, 10]: economic left (-)
to right (+), social libertarian (-) to authoritarian (+).

Beside it, the acquiescence-corrected coordinate: a model's mean agreement over every
statement (`acquiescence`, its tendency to agree whatever the statement says, per
reading) is subtracted from each statement's agreement before signing it by its
direction. On a questionnaire balanced in direction the axis mean is the same, but a
fine-tuned model that only learned to agree (or disagree) more no longer spreads its
per-statement positions, so the corrected CI shows what the statement-dependent part did.

With both readings, the `readings` table puts them side by side per model and axis with
their paired difference (generated - logprob) over the statements both read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import softmax

from ...registry import baselines
from ...stats import bootstrap_mean_ci, compare, paired_difference, with_bh

SCALE = 10.0
KEYS = ["model", "reading", "item", "axis", "direction"]


def _with_reading(scores: pd.DataFrame) -> pd.DataFrame:
    """Score tables written before the generated reading (and hand-built ones) have
    neither `reading` nor `value_max`: every row is a log-probability, and the scale is
    the largest option weight in the table."""
    if "reading" not in scores:
        scores = scores.assign(reading="logprob")
    if "value_max" not in scores:
        scores = scores.assign(value_max=scores["value"].abs().max())
    return scores


def _option_probabilities(logprob: pd.DataFrame) -> pd.DataFrame:
    """The log-probability reading's option probabilities per listing order: the softmax
    of the options' summed log-probabilities, within each (model, item, axis, order)."""
    groups = logprob.groupby(["model", "item", "axis", "variant"], sort=False)["logprob_sum"]
    return logprob.assign(probability=groups.transform(lambda lp: softmax(lp.to_numpy())))


def statement_positions(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, reading, statement): signed agreement in [-1, 1] (+ =
    right/authoritarian), its corrected form and the model's acquiescence."""
    scores = _with_reading(scores)
    parts = []
    logprob = scores[scores["reading"] == "logprob"]
    if len(logprob):
        weighted = _option_probabilities(logprob).assign(expected=lambda d: d["probability"] * d["value"])
        per_order = weighted.groupby(KEYS + ["variant", "value_max"], as_index=False)["expected"].sum()
        parts.append(per_order.groupby(KEYS + ["value_max"], as_index=False)["expected"].mean())
    generated = scores[(scores["reading"] == "generated") & scores["value"].notna()]
    if len(generated):
        parts.append(generated.groupby(KEYS + ["value_max"], as_index=False)["value"].mean()
                     .rename(columns={"value": "expected"}))
    if not parts:
        return pd.DataFrame(columns=KEYS + ["expected", "position", "acquiescence", "position_corrected"])
    per_item = pd.concat(parts, ignore_index=True)
    agreement = per_item["expected"] / per_item.pop("value_max")
    per_item["position"] = per_item["direction"] * agreement
    per_item["acquiescence"] = agreement.groupby([per_item["model"], per_item["reading"]]).transform("mean")
    per_item["position_corrected"] = per_item["direction"] * (agreement - per_item["acquiescence"])
    return per_item


def _scaled_positions(scores: pd.DataFrame) -> pd.DataFrame:
    return statement_positions(scores).assign(coordinate=lambda d: SCALE * d["position"],
                                              corrected=lambda d: SCALE * d["position_corrected"])


def answer_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (model, reading, axis) of the generated reading: answers given (`n_answers`)
    and answers read as 0..3 (`n_parsed`)."""
    scores = _with_reading(scores)
    generated = scores[scores["reading"] == "generated"]
    if generated.empty:
        return pd.DataFrame(columns=["model", "reading", "axis", "n_answers", "n_parsed"])
    return (generated.groupby(["model", "reading", "axis"], sort=False)
            .agg(n_answers=("answer", "size"), n_parsed=("parsed", "count")).reset_index())


def coordinates(scores: pd.DataFrame, baselines: dict[str, str | None], seed: int = 0) -> pd.DataFrame:
    """Per (model, reading, axis): coordinate with bootstrap CI over statements, and the
    paired changes from the model's parent and its lineage's base model. A model whose
    generated answers name no option on an axis keeps a row, its coordinate missing."""
    positions = _scaled_positions(scores)
    by = ["reading", "axis"]
    raw = compare(positions, "coordinate", by, baselines, seed=seed, count="n_statements",
                  extra={"acquiescence": ("acquiescence", "first")})
    corrected = compare(positions, "corrected", by, baselines, seed=seed, count=None)
    keep = ["model", *by, "corrected", "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high", "p_value"]
    corrected = corrected.reindex(columns=keep).rename(columns=lambda c: c if c in ("model", *by, "corrected")
                                                       else f"corrected_{c}")
    table = raw.merge(corrected, on=["model", *by], how="left") if len(raw) else raw
    counts = answer_counts(scores)
    if counts.empty:
        return table
    keys = ["model", *by]
    table = table.merge(counts, on=keys, how="left") if len(table) else table
    unread = counts[~counts.set_index(keys).index.isin(table.set_index(keys).index if len(table) else [])]
    if unread.empty:
        return table
    table = pd.concat([table, unread], ignore_index=True)
    order = {m: i for i, m in enumerate(dict.fromkeys(table["model"]))}  # each model's rows together
    return table.sort_values("model", key=lambda m: m.map(order), kind="stable").reset_index(drop=True)


def _most_probable_options(scores: pd.DataFrame) -> pd.Series:
    """(model, item, axis) -> the option the log-probability reading finds most
    probable, its probability averaged over the listing orders."""
    logprob = _option_probabilities(scores[scores["reading"] == "logprob"])
    mean = logprob.groupby(["model", "item", "axis", "candidate"])["probability"].mean()
    return mean.groupby(level=["model", "item", "axis"]).idxmax().map(lambda key: key[-1])


def readings_table(scores: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per (model, axis): the coordinate in each reading with its CI over statements,
    the paired difference generated - logprob over the statements the generated
    reading read (`difference` with CI, Wilcoxon `p_value`, `p_adjusted` over the
    table), the answer counts, and `same_option`: the share of read answers naming the
    option the log-probability reading finds most probable."""
    scores = _with_reading(scores)
    positions = _scaled_positions(scores)
    counts = answer_counts(scores).set_index(["model", "axis"])
    generated = scores[(scores["reading"] == "generated") & scores["candidate"].notna()]
    most_probable = _most_probable_options(scores) if len(generated) else pd.Series(dtype=object)
    rows = []
    for (model, axis), part in positions.groupby(["model", "axis"], sort=False):
        row = {"model": model, "axis": axis}
        values = {r: part.loc[part["reading"] == r].set_index("item")["coordinate"] for r in ("logprob", "generated")}
        for reading, v in values.items():
            low, high = bootstrap_mean_ci(v.to_numpy(), seed=seed) if len(v) else (np.nan, np.nan)
            row.update({reading: v.mean() if len(v) else np.nan, f"{reading}_ci_low": low, f"{reading}_ci_high": high})
        row.update(n_statements=len(values["logprob"]), n_read=len(values["generated"]))
        if (model, axis) in counts.index:
            row.update(counts.loc[(model, axis), ["n_answers", "n_parsed"]].to_dict())
        common = values["generated"].index.intersection(values["logprob"].index)
        if len(common):
            diff = paired_difference(values["generated"][common].to_numpy(), values["logprob"][common].to_numpy(),
                                     seed=seed)
            row.update(difference=diff["delta"], difference_ci_low=diff["delta_ci_low"],
                       difference_ci_high=diff["delta_ci_high"], p_value=diff["p_value"], test=diff["test"])
        answered = generated[(generated["model"] == model) & (generated["axis"] == axis)]
        if len(answered):
            expected = [most_probable.get((model, item, axis)) for item in answered["item"]]
            row["same_option"] = float(np.mean(answered["candidate"].to_numpy() == np.array(expected, dtype=object)))
        rows.append(row)
    return with_bh(pd.DataFrame(rows))


def metrics(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> pd.DataFrame:
    return coordinates(scores, baselines(models), seed=seed)


def tables(scores: pd.DataFrame, models: pd.DataFrame, spec: dict, seed: int = 0) -> dict[str, pd.DataFrame]:
    return {"readings": readings_table(scores, seed=seed)}
