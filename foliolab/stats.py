"""Statistics, from scipy: intervals for rates, means and percentiles, and
the mmtests-style comparison of two variants.

* rates (k events in n trials): the Wilson score interval
  (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``); for k = 0
  the rule of three gives the one-sided 95% upper bound 3/n beside it;
* means and percentiles over seeds or samples: the bootstrap
  (``scipy.stats.bootstrap``, BCa, with a seeded generator);
* a comparison row as compare-kernels prints it (mmtests): the Amean of
  each variant, its Stddev, the percentage change against the first
  column, and a significance mark from Welch's t-test
  (``scipy.stats.ttest_ind(equal_var=False)``): ``*`` p < 0.05, ``**`` p <
  0.01, ``***`` p < 0.001.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95


def wilson(k, n, confidence=CONFIDENCE):
    """(low, high) of the Wilson score interval for k successes in n."""
    if n <= 0:
        return (0.0, 1.0)
    ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence,
                                                      method="wilson")
    return (float(ci.low), float(ci.high))


def rule_of_three(n):
    """One-sided 95% upper bound on a rate never observed in n trials."""
    return 3.0 / n if n > 0 else 1.0


def rate(k, n):
    """A rate with its interval: {"k", "n", "rate", "low", "high"} and, when
    k == 0, "upper3" (the rule of three)."""
    low, high = wilson(k, n)
    out = {"k": int(k), "n": int(n), "rate": k / n if n else 0.0, "low": low, "high": high}
    if k == 0 and n:
        out["upper3"] = rule_of_three(n)
    return out


def bootstrap_ci(values, statistic=np.mean, confidence=CONFIDENCE, seed=0,
                 n_resamples=2000):
    """(low, high) bootstrap interval of ``statistic`` over ``values`` (BCa;
    percentile when BCa is undefined, e.g. all values equal)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1 or np.all(data == data[0]):
        v = float(statistic(data))
        return (v, v)
    rng = np.random.default_rng(seed)
    for method in ("BCa", "percentile"):
        try:
            res = sps.bootstrap((data,), statistic, confidence_level=confidence,
                                n_resamples=n_resamples, method=method, random_state=rng,
                                vectorized=False)
        except Exception:       # BCa can fail on degenerate resamples
            continue
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isnan(lo) or math.isnan(hi)):
            return (lo, hi)
    v = float(statistic(data))
    return (v, v)


def mean_ci(values, seed=0):
    """{"mean", "stddev", "low", "high", "n"}: the Amean over runs with its
    bootstrap interval."""
    data = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(data, np.mean, seed=seed)
    return {"mean": float(data.mean()) if data.size else math.nan,
            "stddev": float(data.std(ddof=1)) if data.size > 1 else 0.0,
            "low": lo, "high": hi, "n": int(data.size)}


def percentile_ci(values, q, seed=0):
    """{"value", "low", "high", "n"}: the q-th percentile with its bootstrap
    interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return {"value": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    def stat(x, axis=-1):
        return np.percentile(x, q, axis=axis)
    lo, hi = bootstrap_ci(data, stat, seed=seed)
    return {"value": float(np.percentile(data, q)), "low": lo, "high": hi, "n": int(data.size)}


def pct_change(base, new):
    """Percentage change from ``base`` to ``new`` (compare-kernels' column)."""
    if base == 0:
        return 0.0 if new == 0 else math.inf
    return (new - base) * 100.0 / abs(base)


def significance(a, b):
    """('***' | '**' | '*' | '', p) from Welch's t-test of two samples."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return ("", math.nan)
    if a.std() == 0 and b.std() == 0:
        return ("***" if a.mean() != b.mean() else "", 0.0 if a.mean() != b.mean() else 1.0)
    with warnings.catch_warnings():
        # nearly constant samples: scipy warns about precision, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(sps.ttest_ind(a, b, equal_var=False).pvalue)
    mark = "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
    return (mark, p)
