"""Intervals that respect [0, 1] and numbers in significant figures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from xordsim.fmt import interval, prob, sig
from xordsim.stats import bounded_mean_ci, mean_ci, proportion_ci

SAMPLES = {
    "995 zeros, 5 ones": np.r_[np.zeros(995), np.ones(5)],
    "all zeros": np.zeros(1000),
    "all ones": np.ones(50),
    "one value": np.array([0.3]),
    "constant 0.0625": np.full(200, 0.0625),
    "skewed": np.where(np.random.default_rng(3).random(1000) < 0.03,
                       np.random.default_rng(4).random(1000), 0.0),
    "uniform": np.random.default_rng(5).random(300),
    "two points": np.array([0.0, 1.0]),
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_bounded_interval_inside_unit_interval_and_contains_mean(name):
    mean, low, high = bounded_mean_ci(SAMPLES[name])
    assert 0.0 <= low <= mean <= high <= 1.0
    assert mean == pytest.approx(SAMPLES[name].mean())


def test_all_zero_sample_gets_the_exact_bound():
    n = 1000
    mean, low, high = bounded_mean_ci(np.zeros(n))
    assert (mean, low) == (0.0, 0.0)
    assert high == pytest.approx(1 - 0.025 ** (1 / n))  # Clopper-Pearson of 0 in n
    assert high == pytest.approx(proportion_ci(0, n)[1])


def test_bounded_interval_is_reproducible_by_seed():
    x = SAMPLES["skewed"]
    assert bounded_mean_ci(x, seed=7) == bounded_mean_ci(x, seed=7)
    assert bounded_mean_ci(x, seed=7) != bounded_mean_ci(x, seed=8)


@pytest.mark.parametrize("name", ["995 zeros, 5 ones", "skewed", "uniform"])
def test_bca_agrees_with_scipy_bootstrap(name):
    """Independent oracle: SciPy's BCa with many resamples (Monte Carlo tolerance)."""
    x = SAMPLES[name]
    _, low, high = bounded_mean_ci(x, n_boot=20000)
    ref = stats.bootstrap((x,), np.mean, method="BCa", n_resamples=20000,
                          random_state=0).confidence_interval
    width = ref.high - ref.low
    assert abs(low - ref.low) < 0.1 * width and abs(high - ref.high) < 0.1 * width


def test_nonfinite_values_are_dropped():
    x = np.r_[np.zeros(10), np.nan, np.inf]
    assert bounded_mean_ci(x)[0] == 0.0
    assert np.isnan(bounded_mean_ci([np.nan])).all()


@pytest.mark.parametrize("k,n", [(0, 1), (0, 10), (3, 10), (10, 10), (949, 1000), (1, 20000)])
def test_clopper_pearson_matches_scipy(k, n):
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    low, high = proportion_ci(k, n)
    assert low == pytest.approx(ci.low, abs=1e-9) and high == pytest.approx(ci.high, abs=1e-9)
    assert 0 <= low <= k / n <= high <= 1


def test_student_t_still_available_for_unbounded_quantities():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo == pytest.approx(2 - stats.t.ppf(0.975, 2) / np.sqrt(3))


@pytest.mark.parametrize("value,text", [
    (5e-5, "5.00·10⁻⁵"), (5.468e-5, "5.47·10⁻⁵"), (0.5, "0.500"), (0.0123, "0.0123"),
    (0.001, "0.00100"), (12345, "12345"), (12345.0, "12345"), (0, "0"), (0.0, "0"),
    (1.0, "1"), (2.5e7, "2.50·10⁷"), (-3.14159, "-3.14"), (0.9996, "1.00"),
    (float("nan"), "nan"), (None, "—"), (99999.5, "1.00·10⁵"), (1234.5, "1234"),
])
def test_significant_figures(value, text):
    assert sig(value) == text


def test_significant_figures_ascii():
    assert sig(5e-5, unicode=False) == "5.00e-05"


def test_probability_close_to_one():
    assert prob((1, 2.16e-173)) == "1 − 2.16·10⁻¹⁷³"
    assert prob(1 - 1e-7) == "1 − 1.00·10⁻⁷"
    assert prob(0.5) == "0.500" and prob(1.0) == "1" and prob(0.9) == "0.900"


def test_interval_on_one_line():
    assert interval(4.54e-5, 6.45e-5) == "[4.54·10⁻⁵, 6.45·10⁻⁵]"
    assert "\n" not in interval(0, 0.00368)
