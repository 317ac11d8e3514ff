"""course_utils.core.alphabeta: the alpha-beta message model and its one fit."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.core import alphabeta
from course_utils.core.alphabeta import AlphaBeta, fit_alpha_beta, message_time


def test_message_time_alpha_beta():
    assert message_time(4e6, 4e9, 1e-5) == pytest.approx(1e-3 + 1e-5)
    # reference sanity example: a 1000x1000 float32 gradient to one peer at 4 GB/s ~ 1.0 ms
    assert message_time(4e6, 4e9, 0) == pytest.approx(1.0e-3)


def test_fit_recovers_alpha_and_beta_exactly():
    n = np.array([1, 1e3, 1e5, 1e7])
    t = 2e-6 + n / 5e9
    fit = fit_alpha_beta(n, t)
    assert isinstance(fit, AlphaBeta)
    assert fit.alpha == pytest.approx(2e-6, rel=1e-9)
    assert fit.bandwidth == pytest.approx(5e9, rel=1e-9)
    np.testing.assert_allclose(fit.predict(n), t, rtol=1e-9)


def test_fit_balances_relative_errors():
    rng = np.random.default_rng(0)
    n = np.logspace(0, 7, 15)
    t = (3e-6 + n / 2e9) * rng.uniform(0.95, 1.05, n.size)
    fit = fit_alpha_beta(n, t)
    assert fit.alpha == pytest.approx(3e-6, rel=0.1)
    assert fit.bandwidth == pytest.approx(2e9, rel=0.1)


def test_fit_with_collective_counts():
    """latency_terms / byte_terms per point: the fit the all-reduce and all-gather use."""
    n = np.array([1e3, 1e5, 1e6, 1e7])
    a, b = np.array([2, 2, 6, 6]), np.array([1.0, 1.0, 1.5, 1.5])
    t = a * 4e-6 + b * n / 8e9
    fit = fit_alpha_beta(n, t, latency_terms=a, byte_terms=b)
    assert fit.alpha == pytest.approx(4e-6, rel=1e-9)
    assert fit.bandwidth == pytest.approx(8e9, rel=1e-9)
    with pytest.raises(ValueError, match=r"latency_terms must be a number or have one value "
                                         r"per measurement \(4\), got 2"):
        fit_alpha_beta(n, t, latency_terms=[1, 2])


@pytest.mark.parametrize("n, t, match", [
    ([1, 1], [1e-6, 2e-6], "two different sizes"),
    ([1, 2], [1e-6], "same length"),
    ([1, 2], [1e-6, 0.0], "seconds must be finite and > 0"),
    ([-1, 2], [1e-6, 2e-6], "nbytes must be finite and >= 0"),
    ([1, 1000], [1e-3, 1e-6], "do not grow"),
])
def test_fit_rejects_bad_input(n, t, match):
    with pytest.raises(ValueError, match=match):
        fit_alpha_beta(n, t)


def test_relative_least_squares_directly():
    a = np.ones(3)
    b = np.array([1e3, 1e5, 1e7])
    alpha, beta = alphabeta.fit_relative_least_squares(a, b, 1e-6 + b * 1e-9)
    assert alpha == pytest.approx(1e-6) and beta == pytest.approx(1e-9)
