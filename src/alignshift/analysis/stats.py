"""Confidence intervals and tests shared by every probe's analysis."""

from __future__ import annotations

import numpy as np
from scipy import stats

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
    p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) and len(diff) > 1 else 1.0
    return {"delta": float(diff.mean()), "delta_ci_low": low, "delta_ci_high": high, "p_value": p,
            "test": "paired bootstrap 95% CI; Wilcoxon signed-rank"}


def benjamini_hochberg(p_values) -> np.ndarray:
    """BH-adjusted p-values (false discovery rate) across a family of comparisons."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return stats.false_discovery_control(p, method="bh")
