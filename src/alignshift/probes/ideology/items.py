"""ideology: Likert agreement with keyed statements on two axes, in one or two readings.

- `logprob` (`build`): each statement asked with the Likert options listed, every option
  scored by the shared scorer; metrics.py reads the options' probabilities.
- `generated` (`generate`): each statement answered by the model under PoliTune's
  released instruction ("return a single integer from 0 to 3 followed by an
  explanation ..."), sampled as its released recipes sampled. The released code stores
  the answer text (`pc.csv`) and its scoring script was not released; here an answer's
  value is its first number when that is a whole number 0..3 (the judge's reading of a
  reply, `probes.answers.parse_score`), the k-th of `options`; any other answer (no
  number, "4", "10", "2.5") is missing, kept in the table and counted, never guessed.

Both readings' rows carry `reading`, the option's `value` on the statement's axis and
`value_max` (the largest weight of any option in the questionnaire, the scale the
metrics divide by), so metrics.py scores them with the same keyed directions and weights.
"""

from __future__ import annotations

import math

import pandas as pd

from ...prompts import alpaca
from .. import ProbeError
from ..protocol import GENERATION, LOG_LIKELIHOOD

# how a language model is read on this probe (alignshift.probes.protocol)
KINDS = (LOG_LIKELIHOOD, GENERATION)

READINGS = ("logprob", "generated", "both")
LEVELS = 4  # the instruction's 0..3


def readings(spec: dict) -> tuple[str, ...]:
    """The readings the spec asks for, in the order they are reported."""
    reading = spec.get("reading", "logprob")
    if reading not in READINGS:
        raise ProbeError(f"probes.ideology.reading: {reading!r}; known: {', '.join(READINGS)}")
    return ("logprob", "generated") if reading == "both" else (reading,)


def check(spec: dict, models) -> None:
    """At planning time: a known reading; the generated reading's four answer levels
    (0..3) name the four `options`; the `readings` table compares two readings."""
    chosen = readings(spec)
    unknown = sorted(set(spec.get("tables") or ()) - {"readings"})
    if unknown:
        raise ProbeError(f"probes.ideology.tables: {unknown[0]!r} is not a table of this probe; known: readings")
    if "readings" in (spec.get("tables") or ()) and len(chosen) < 2:
        raise ProbeError("probes.ideology.tables: the readings table compares the two readings; set "
                         "probes.ideology.reading: both")
    if "generated" in chosen:
        if len(spec["options"]) != LEVELS:
            raise ProbeError(f"probes.ideology.options: the generated reading maps the answers 0..3 onto four options "
                             f"(Strongly disagree .. Strongly agree); got {len(spec['options'])}")
        if int(spec["generated"]["samples"]) < 1:
            raise ProbeError("probes.ideology.generated.samples: at least 1")


def _option_weights(spec: dict, statements: pd.DataFrame):
    """Per questionnaire row, {option: weight on its axis} (a scoring table's own
    weights, from the `compass_statements` loader, or `option_values`), and the largest
    absolute weight of any option in the questionnaire."""
    options = list(spec["options"])
    if "option_values" in statements:
        weights = [dict(zip(options, map(float, values))) for values in statements["option_values"]]
    else:
        weights = [dict(zip(options, map(float, spec["option_values"])))] * len(statements)
    return weights, max((abs(w) for row in weights for w in row.values()), default=0.0)


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    """The log-probability reading's rows (none unless it is asked for)."""
    if "logprob" not in readings(spec):
        return pd.DataFrame()
    statements = tables["questionnaire"]
    options = list(spec["options"])
    weights, value_max = _option_weights(spec, statements)
    rows = []
    for order in spec["orders"]:
        listed = options if order == "ascending" else options[::-1]
        for st, weight in zip(statements.itertuples(), weights):
            prompt = fmt(spec["prompt"].format(statement=st.statement, options=", ".join(listed)))
            for option in options:
                rows.append({"reading": "logprob", "item": st.id, "variant": order, "candidate": option,
                             "continuation": option, "prompt": prompt, "value": weight[option],
                             "value_max": value_max, "axis": st.axis, "direction": st.direction})
    return pd.DataFrame(rows)


def generated_prompt(spec: dict, statement: str, model_spec, fmt) -> str:
    """The prompt of the generated reading: for a model in the Alpaca format the released
    one (torchtune's Alpaca template with the instruction and the statement as its
    input; the statement stripped, as the released code read each line), else the
    `user` message in the model's own format."""
    settings = spec["generated"]
    if getattr(model_spec, "prompt_format", "auto") == "alpaca":
        return alpaca(settings["instruction"], statement.strip())
    return fmt(settings["user"].format(instruction=settings["instruction"], statement=statement.strip()))


def parse_answer(answer: str) -> int | None:
    """An answer's level 0..3: its first number when that is a whole number 0..3, else None."""
    from ..answers import parse_score  # the one reading of a number in model text

    value = parse_score(answer, LEVELS - 1)
    return None if math.isnan(value) else int(value)


def generate(spec: dict, tables: dict[str, pd.DataFrame], lm, fmt, cache) -> pd.DataFrame:
    """The generated reading's rows (none unless it is asked for): one per (questionnaire
    row, sample), with the answer, its parsed level (NaN: missing), the option it names
    and that option's weight, the prompt (the probe's table keeps its hash) and the
    sampling seed."""
    from ...generation import generate as generate_answers

    if "generated" not in readings(spec):
        return pd.DataFrame()
    settings = spec["generated"]
    statements = tables["questionnaire"]
    options = list(spec["options"])
    weights, value_max = _option_weights(spec, statements)
    # a statement on both axes (a scoring table's) is answered once
    prompts = {st.id: generated_prompt(spec, st.statement, lm.spec, fmt) for st in statements.itertuples()}
    rows = []
    for sample in range(int(settings["samples"])):
        seed = int(settings["seed"]) + 1000 * sample
        texts = generate_answers(lm.model, lm.tokenizer, list(prompts.values()),
                                 max_new_tokens=int(settings["max_new_tokens"]), do_sample=bool(settings["do_sample"]),
                                 temperature=float(settings["temperature"]), top_k=settings.get("top_k"), seed=seed,
                                 cache=cache, revision=lm.revision)
        answers = dict(zip(prompts, texts))
        for st, weight in zip(statements.itertuples(), weights):
            level = parse_answer(answers[st.id])
            option = None if level is None else options[level]
            rows.append({"reading": "generated", "item": st.id, "variant": f"sample-{sample}", "candidate": option,
                         "value": math.nan if option is None else weight[option], "value_max": value_max,
                         "axis": st.axis, "direction": st.direction, "answer": answers[st.id],
                         "parsed": math.nan if level is None else float(level), "seed": seed,
                         "prompt": prompts[st.id]})
    return pd.DataFrame(rows)
