"""The statistics of measure mode and explore --all: the library's
intervals on known inputs, not hand arithmetic."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from foliolab import stats


def test_wilson_matches_the_textbook_values():
    # Wilson score interval, 95%: 0/10 -> (0, 0.2775); 5/10 -> (0.2366, 0.7634)
    lo, hi = stats.wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.27753, abs=1e-4)
    lo, hi = stats.wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.23659, abs=1e-4), pytest.approx(0.76341, abs=1e-4))
    # and it is scipy's
    ci = sps.binomtest(37, 120).proportion_ci(method="wilson")
    assert stats.wilson(37, 120) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_rate_of_zero_events_carries_the_rule_of_three():
    r = stats.rate(0, 300)
    assert r["rate"] == 0 and r["upper3"] == pytest.approx(0.01)
    assert "upper3" not in stats.rate(1, 300)


def test_explore_uses_the_same_interval():
    from foliolab.explore import wilson
    assert wilson(3, 40) == stats.wilson(3, 40)


def test_bootstrap_mean_interval_covers_the_mean_and_is_seeded():
    rng = np.random.default_rng(1)
    data = rng.normal(10.0, 2.0, size=40)
    a = stats.mean_ci(data, seed=3)
    b = stats.mean_ci(data, seed=3)
    assert a == b
    assert a["low"] < data.mean() < a["high"]
    # roughly the t interval's width
    half_t = sps.t.ppf(0.975, 39) * data.std(ddof=1) / math.sqrt(40)
    assert (a["high"] - a["low"]) / 2 == pytest.approx(half_t, rel=0.35)


def test_constant_samples_give_a_point_interval():
    s = stats.mean_ci([4, 4, 4])
    assert s["low"] == s["high"] == 4.0 and s["stddev"] == 0.0


def test_percentile_interval_brackets_the_percentile():
    data = np.arange(1000, dtype=float)
    p = stats.percentile_ci(data, 99, seed=0)
    assert p["value"] == pytest.approx(np.percentile(data, 99))
    assert p["low"] <= p["value"] <= p["high"]


def test_significance_marks_follow_welch():
    a = [10, 11, 9, 10, 12, 10, 11, 9]
    b = [1, 2, 1, 0, 2, 1, 1, 2]
    mark, p = stats.significance(a, b)
    assert mark == "***" and p == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    mark, p = stats.significance(a, [10, 10, 11, 9, 12, 10, 11, 10])
    assert mark == "" and p > 0.05


def test_pct_change_is_relative_to_the_baseline():
    assert stats.pct_change(400, 30) == pytest.approx(-92.5)
    assert stats.pct_change(0, 0) == 0.0
    assert stats.pct_change(0, 3) == math.inf
