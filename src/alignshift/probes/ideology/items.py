"""ideology: Likert agreement with keyed statements on two axes."""

from __future__ import annotations

import pandas as pd


def build(spec: dict, tables: dict[str, pd.DataFrame], fmt) -> pd.DataFrame:
    statements = tables["questionnaire"]
    options = list(spec["options"])
    values = dict(zip(options, spec["option_values"]))
    rows = []
    for order in spec["orders"]:
        listed = options if order == "ascending" else options[::-1]
        for st in statements.itertuples():
            prompt = fmt(spec["prompt"].format(statement=st.statement, options=", ".join(listed)))
            # a scoring table (the `compass_statements` loader) gives each statement its
            # own per-option weights on its axis, in the order of `options`
            weights = dict(zip(options, st.option_values)) if "option_values" in statements else values
            for option in options:
                rows.append({"item": st.id, "variant": order, "candidate": option, "continuation": option,
                             "prompt": prompt, "value": float(weights[option]), "axis": st.axis,
                             "direction": st.direction})
    return pd.DataFrame(rows)
