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
