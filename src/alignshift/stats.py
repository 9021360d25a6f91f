"""Confidence intervals, tests and the model comparison shared by every probe's metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .registry import lineage_root

N_RESAMPLES = 2000
LEVEL = 0.95


def bootstrap_mean_ci(values, *, seed: int = 0, n_resamples: int = N_RESAMPLES, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean over items."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.allclose(values, values[0]):
        return float(values.mean()), float(values.mean())
    res = stats.bootstrap((values,), np.mean, n_resamples=n_resamples, confidence_level=level,
                          method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_difference(after, before, *, seed: int = 0, n_resamples: int = N_RESAMPLES, level: float = LEVEL) -> dict:
    """Mean paired difference with its bootstrap CI and a Wilcoxon signed-rank p-value."""
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    low, high = bootstrap_mean_ci(diff, seed=seed, n_resamples=n_resamples, level=level)
    p = wilcoxon_p(diff) if np.any(diff != 0) and len(diff) > 1 else 1.0
    return {"delta": float(diff.mean()), "delta_ci_low": low, "delta_ci_high": high, "p_value": p,
            "test": "paired bootstrap 95% CI; Wilcoxon signed-rank"}


# up to this many differences scipy's signed-rank p-value is an exact permutation one
EXACT_SIGNED_RANK = 13


def wilcoxon_p(diff) -> float:
    """The two-sided Wilcoxon signed-rank p-value of paired differences, as
    `scipy.stats.wilcoxon(diff).pvalue` gives it (zeros dropped, tied ranks averaged).
    With at most 13 differences and ties or zeros, scipy draws every one of the 2**n sign
    flips through its generic permutation test, ~1-3 s per call (a metrics table makes
    thousands); here the same distribution is enumerated in one matrix product.
    tests/test_metrics.py checks the two agree."""
    d = np.asarray(diff, dtype=float)
    if len(d) > EXACT_SIGNED_RANK:  # scipy's own choice (exact, or normal approximation): fast
        return float(stats.wilcoxon(d).pvalue)
    d = d[d != 0]
    n = len(d)
    ranks = stats.rankdata(np.abs(d))
    positive = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1  # every sign pattern
    null = positive @ ranks  # the sum of positive ranks under each
    observed = ranks[d > 0].sum()
    tolerance = 1e-9 * max(1.0, ranks.sum())  # equal sums computed in another order
    less, greater = np.mean(null <= observed + tolerance), np.mean(null >= observed - tolerance)
    return float(min(1.0, 2 * min(less, greater)))


def benjamini_hochberg(p_values) -> np.ndarray:
    """BH-adjusted p-values (false discovery rate) across a family of comparisons.
    A NaN p-value (a test that could not be run) stays NaN and is not counted in the family."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = stats.false_discovery_control(p[finite], method="bh")
    return out


def sign_test(values, alternative: str = "greater") -> dict:
    """Exact binomial (sign) test that positive values are more common than negative
    ones (p = 0.5); zeros are ties and are dropped, as in the classical sign test."""
    values = np.asarray(values, dtype=float)
    positive, n = int((values > 0).sum()), int((values != 0).sum())
    p = float(stats.binomtest(positive, n, 0.5, alternative=alternative).pvalue) if n else float("nan")
    return {"n": n, "n_positive": positive, "p_value": p, "test": f"exact binomial, p0=0.5, {alternative}"}


def compare(items: pd.DataFrame, value: str, by: list[str], baselines: dict[str, str | None], *, seed: int = 0,
            count: str | None = "n_items", extra: dict[str, tuple[str, str]] | None = None,
            test_zero: bool = False) -> pd.DataFrame:
    """The comparison every probe reports. `items` has one row per (model, item, *by)
    with the per-item `value`; per (model, *by) the table gives the mean `value` with its
    bootstrap CI (`ci_low`, `ci_high`), the item count (`count`), the `extra`
    aggregates ({column: (source column, pandas aggregation)}), the paired change from
    the model's parent over their common items (`baseline`, `delta` with CI, Wilcoxon
    `p_value`, `test`), the paired change from its lineage's base model (`base_model`,
    `delta_base` with CI) and `p_adjusted`: Benjamini-Hochberg over every parent
    comparison of the table (the family one figure shows). With `test_zero`, also the
    Wilcoxon p of the value against zero (`<value>_p`)."""
    keys = ["model", *by]
    indexed = items.set_index(keys + ["item"])[value]
    groups = {key if isinstance(key, tuple) else (key,): part.droplevel(keys)
              for key, part in indexed.groupby(level=keys, sort=False)}
    rows = []
    for key, values in groups.items():
        model, rest = key[0], key[1:]
        low, high = bootstrap_mean_ci(values.to_numpy(), seed=seed)
        row = {"model": model, **dict(zip(by, rest)), value: float(values.mean()), "ci_low": low, "ci_high": high}
        if count:
            row[count] = len(values)
        if test_zero:
            row[f"{value}_p"] = paired_difference(values.to_numpy(), np.zeros(len(values)), seed=seed)["p_value"]
        parent, root = baselines.get(model), lineage_root(baselines, model)
        for ref, prefix in ((parent, ""), (root, "base_")):
            other = groups.get((ref, *rest)) if ref and ref != model else None
            common = values.index.intersection(other.index) if other is not None else []
            if len(common) == 0:
                continue
            diff = paired_difference(values[common].to_numpy(), other[common].to_numpy(), seed=seed)
            if prefix:
                row.update(base_model=ref, delta_base=diff["delta"], delta_base_ci_low=diff["delta_ci_low"],
                           delta_base_ci_high=diff["delta_ci_high"])
            else:
                row.update(baseline=ref, **diff)
        rows.append(row)
    table = pd.DataFrame(rows)
    if extra and not table.empty:
        aggregated = items.groupby(keys, sort=False).agg(**extra).reset_index()
        table = table.merge(aggregated, on=keys, how="left")
    return with_bh(table)


def with_bh(table: pd.DataFrame, p: str = "p_value", out: str = "p_adjusted") -> pd.DataFrame:
    """Add Benjamini-Hochberg adjusted p-values over the rows that have a p-value."""
    table = table.copy()
    table[out] = np.nan
    if p in table:
        has = table[p].notna()
        table.loc[has, out] = benjamini_hochberg(table.loc[has, p].to_numpy())
    return table
