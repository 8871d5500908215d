"""The statistics RESULTS.md states the spread and the transfer with: Student's t quantile and
Welch's interval, written by hand in docs/runs/run_logs.py (no statistics library), against textbook values."""
from math import sqrt
from statistics import mean, variance

import pytest
from conftest import DOCS_RUNS, load_script


@pytest.fixture(scope="module")
def run_logs():
    return load_script(DOCS_RUNS / "run_logs.py")


# Two-sided 95% (0.975) and 90% (0.95) quantiles of Student's t, from printed tables.
@pytest.mark.parametrize("probability, degrees, quantile", [
    (0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 4, 2.7764), (0.975, 10, 2.2281), (0.975, 30, 2.0423),
    (0.95, 5, 2.0150), (0.5, 3, 0.0)])
def test_t_quantiles_are_the_printed_tables(run_logs, probability, degrees, quantile):
    assert run_logs.t_quantile(probability, degrees) == pytest.approx(quantile, abs=1e-4)


def test_welch_interval_is_the_difference_plus_minus_t_times_its_standard_error(run_logs):
    first, second = [66.8, 65.2, 64.9, 65.6, 66.5, 66.3], [64.5, 63.3, 63.5]
    a, b = variance(first) / 6, variance(second) / 3
    degrees = (a + b) ** 2 / (a * a / 5 + b * b / 2)
    difference, low, high = run_logs.welch_interval(first, second)
    assert difference == pytest.approx(mean(first) - mean(second))
    half = run_logs.t_quantile(0.975, degrees) * sqrt(a + b)
    assert (low, high) == pytest.approx((difference - half, difference + half))
    assert 2 < degrees < 7 and 0 < low < difference < high


def test_equal_groups_give_an_interval_around_zero(run_logs):
    difference, low, high = run_logs.welch_interval([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert difference == 0 and low == pytest.approx(-high) and high > 0
