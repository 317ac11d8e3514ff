"""course_utils.parallel.mp_costs: what a split layer communicates, and its cost."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.core.alphabeta import AlphaBeta
from course_utils.parallel import mp_costs
from course_utils.parallel.costs import allreduce_time


def test_fit_allgather_recovers_the_model():
    sizes = np.array([1e3, 1e5, 1e6, 4e6])
    times = mp_costs.allgather_time(sizes, 4, 2e9, 5e-5)
    fit = mp_costs.fit_allgather(sizes, 4, times)
    assert isinstance(fit, AlphaBeta)
    assert fit.alpha == pytest.approx(5e-5, rel=1e-6)
    assert fit.bandwidth == pytest.approx(2e9, rel=1e-6)




def test_fit_allgather_recovers_the_model_with_one_rank_count_per_measurement():
    sizes = np.array([1e3, 1e5, 1e6, 4e6])
    n = np.array([4, 4, 4, 4])
    fit = mp_costs.fit_allgather(sizes, n, mp_costs.allgather_time(sizes, n, 2e9, 5e-5))
    assert fit.alpha == pytest.approx(5e-5, rel=1e-6)
    assert fit.bandwidth == pytest.approx(2e9, rel=1e-6)


def test_fc_comm_bytes_of_the_posts_example():
    assert mp_costs.fc_comm_bytes("data", 128, 1000, 500) == {"allreduce": 2e6, "allgather": 0.0}
    assert mp_costs.fc_comm_bytes("column", 128, 1000, 500) == {"allreduce": 512e3,
                                                                "allgather": 256e3}
    assert mp_costs.fc_comm_bytes("row", 128, 1000, 500, 1) == {"allreduce": 64e3,
                                                                "allgather": 128e3}


def test_ring_allgather_time():
    bw, lat = 7e9, 1e-5
    assert mp_costs.allgather_time(256e3, 4, bw, lat) == pytest.approx(3 * lat + 0.75 * 256e3 / bw)
    assert mp_costs.allgather_time(256e3, 1, bw, lat) == 0.0


@given(n_in=st.integers(16, 8192), n_out=st.integers(16, 8192), p=st.integers(2, 64),
       strategy=st.sampled_from(["column", "row"]))
def test_at_the_crossover_batch_both_strategies_take_equal_time(n_in, n_out, p, strategy):
    b = mp_costs.crossover_batch(n_in, n_out, strategy)
    ours = mp_costs.fc_comm_bytes(strategy, 1, n_in, n_out)  # per example, then scale
    t_model = (mp_costs.allgather_time(ours["allgather"] * b, p, 1e9, 0.0)
               + allreduce_time(ours["allreduce"] * b, p, 1e9, 0.0))
    t_data = allreduce_time(mp_costs.fc_comm_bytes("data", 1, n_in, n_out)["allreduce"], p,
                            1e9, 0.0)
    assert t_model == pytest.approx(t_data, rel=1e-9)


def test_cost_models_are_vectorised():
    t = mp_costs.allgather_time(np.array([32, 128, 512]) * 4e3, 2, 1e9, 1e-5)
    assert t.shape == (3,) and np.all(np.diff(t) > 0)
    b = mp_costs.crossover_batch(np.array([100, 1000]), 1000)
    assert b.shape == (2,) and b[1] > b[0]


@pytest.mark.parametrize("call, exc, match", [
    (lambda: mp_costs.fc_comm_bytes("pipeline", 1, 1, 1), ValueError, "strategy must be one"),
    (lambda: mp_costs.fc_comm_bytes("data", 0, 1, 1), ValueError, "batch must be >= 1"),
    (lambda: mp_costs.allgather_time(1, 0, 1e9, 0), ValueError, "n must be >= 1"),
    (lambda: mp_costs.allgather_time(1, 2, 0, 0), ValueError, "bandwidth must be >"),
    (lambda: mp_costs.crossover_batch(100, 100, "data"), ValueError, "strategy must be one of"),
    (lambda: mp_costs.allgather_time(-1, 2, 1e9, 0), ValueError, "nbytes must be >= 0"),
])
def test_cost_model_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# moved from test_paper_model.py: the step-time helpers the paper's model is built on
@pytest.mark.parametrize("call, exc, match", [
    (lambda: mp_costs.hybrid_step_time(5, 6, 1, 4), ValueError, "t_fc must be <= t_total"),
    (lambda: mp_costs.hybrid_step_time(10, 6, 1, 0), ValueError, "n_sub_batches must be >= 1"),
    (lambda: mp_costs.speedup(4, 10, 0), ValueError, "t_step must be > 0"),
    (lambda: mp_costs.unhidden_time([1, 2], [1]), ValueError, "one length"),
])
def test_step_time_helpers_reject_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- measured split layers against the fitted model
def _synthetic_times(alpha=1e-4, bw=2e9, widths=(256, 1024), batches=(8, 128, 2048)):
    """What fc_comm_worker measures, computed from a known alpha-beta model."""
    fit = AlphaBeta(alpha, 1 / bw)
    sizes = sorted({4 * b * n for b in batches for n in widths})
    return {
        "allreduce": {s: float(allreduce_time(s, 2, bw, alpha))
                      for s in sorted(set(sizes) | {4 * n * n for n in widths})},
        "allgather": {s: float(mp_costs.allgather_time(s, 2, bw, alpha)) for s in sizes},
        "column": {(b, n): float(mp_costs.column_split_time(b, n, n, fit, fit))
                   for n in widths for b in batches},
        "world_size": 2,
    }


def test_pooled_low_times_takes_the_10th_percentile_of_all_runs_together():
    quiet = {"allreduce": {4: list(np.linspace(1.0, 1.9, 10))}, "world_size": 2}
    busy = {"allreduce": {4: [50.0] * 10}, "world_size": 2}
    pooled = mp_costs.pooled_low_times([busy, quiet])
    # 20 samples, the 10th percentile lies among the quiet run's lowest
    assert pooled["allreduce"][4] == pytest.approx(np.quantile(
        quiet["allreduce"][4] + busy["allreduce"][4], 0.1))
    assert pooled["allreduce"][4] < 1.2 and pooled["world_size"] == 2
    assert mp_costs.pooled_low_times([busy])["allreduce"][4] == 50.0
    assert mp_costs.pooled_low_times([quiet], q=0.0)["allreduce"][4] == 1.0


def test_the_fit_recovers_the_constants_and_predicts_the_column_split():
    times = _synthetic_times()
    ar, ag = mp_costs.fit_split_collectives(times)
    assert ar.alpha == pytest.approx(1e-4, rel=1e-6) and ag.bandwidth == pytest.approx(2e9,
                                                                                        rel=1e-6)
    rows = mp_costs.compare_split_to_data(times)
    assert len(rows) == 6
    for r in rows:
        assert r.column_model == pytest.approx(r.column_measured, rel=1e-6)
        assert r.data_model == pytest.approx(r.data_measured, rel=1e-6)
        assert not r.miss(1.5)
    # column: one all-gather plus one all-reduce of batch x width floats
    one = rows[0]
    assert one.column_model == pytest.approx(
        allreduce_time(4 * one.batch * one.width, 2, 2e9, 1e-4)
        + mp_costs.allgather_time(4 * one.batch * one.width, 2, 2e9, 1e-4), rel=1e-6)


def test_a_clear_winner_that_loses_is_a_miss_and_a_close_call_is_not():
    row = mp_costs.SplitVsData(1024, 8, data_measured=1e-3, column_measured=2e-3,
                               data_model=2e-3, column_model=0.5e-3)
    assert row.model_ratio == 0.25 and row.clear(1.5) and row.miss(1.5)
    close = mp_costs.SplitVsData(1024, 512, 1e-3, 2e-3, 1.0e-3, 0.9e-3)
    assert not close.clear(1.5) and not close.miss(1.5)
    agrees = mp_costs.SplitVsData(256, 2048, 1e-3, 5e-3, 1e-3, 4e-3)
    assert agrees.clear(2.0) and not agrees.miss(2.0)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: mp_costs.pooled_low_times([]), ValueError, "runs must be a non-empty sequence"),
    (lambda: mp_costs.pooled_low_times([{"a": {1: [1.0]}}, {"a": {}}]), ValueError,
     "same groups and keys"),
    (lambda: mp_costs.pooled_low_times([{"a": {1: [1.0]}}], q=2), ValueError, "q must be <= 1"),
    (lambda: mp_costs.pooled_low_times([[1.0, 2.0]]), TypeError, "runs must hold mappings"),
    (lambda: mp_costs.fit_split_collectives({"allreduce": {4: 1.0}}), ValueError,
     "at least two sizes"),
    (lambda: mp_costs.fit_split_collectives(_synthetic_times(), n=1), ValueError,
     "n must be >= 2"),
    (lambda: mp_costs.column_split_time(8, 4, 4, None, None), TypeError,
     "allreduce_fit must be an AlphaBeta"),
    (lambda: mp_costs.compare_split_to_data({**_synthetic_times(), "column": {}}), ValueError,
     "times\\['column'\\] must map"),
    (lambda: mp_costs.SplitVsData(1, 1, 1, 1, 1, 1).clear(1.0), ValueError, "margin must be > 1"),
])
def test_split_comparison_rejects_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
