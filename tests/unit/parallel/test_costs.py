"""Tests for course_utils.parallel.costs: alpha-beta, all-reduce algorithms, bus bandwidth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.core.alphabeta import AlphaBeta, message_time
from course_utils.parallel import costs
from course_utils.parallel.figures import GIB

ALPHA, BW = 5e-6, 10e9  # 5 us, 10 GB/s



@pytest.mark.parametrize("algorithm", costs.ALGORITHMS)
def test_one_rank_costs_nothing(algorithm):
    assert costs.allreduce_time(1e6, 1, BW, ALPHA, algorithm) == 0.0


def test_textbook_formulas_at_p8():
    n, p = 8e6, 8
    beta = 1 / BW
    expected = {
        "ring": 2 * 7 * ALPHA + 2 * 7 / 8 * n * beta,
        "rabenseifner": 2 * 3 * ALPHA + 2 * 7 / 8 * n * beta,
        "recursive_doubling": 3 * (ALPHA + n * beta),
        "tree": 2 * 3 * (ALPHA + n * beta),
        "parameter_server": 2 * 7 * (ALPHA + n * beta),
    }
    for algorithm, value in expected.items():
        assert costs.allreduce_time(n, p, BW, ALPHA, algorithm) == pytest.approx(value, rel=1e-12)


def test_non_power_of_two_rounds_up_log2():
    # 5 ranks need ceil(log2 5) = 3 rounds of recursive doubling
    assert costs.allreduce_time(0, 5, BW, ALPHA, "recursive_doubling") == pytest.approx(3 * ALPHA)


def test_reduction_term_gamma():
    t0 = costs.allreduce_time(1e6, 4, BW, 0.0)
    t1 = costs.allreduce_time(1e6, 4, BW, 0.0, reduce_time_per_byte=1e-10)
    assert t1 - t0 == pytest.approx(3 / 4 * 1e6 * 1e-10)


def test_which_algorithm_wins():
    p = 64
    # small messages: latency dominates, log-round algorithms beat the ring's 2(p-1) steps
    small = {a: costs.allreduce_time(1e3, p, BW, ALPHA, a) for a in costs.ALGORITHMS}
    assert small["recursive_doubling"] < small["ring"]
    assert small["rabenseifner"] < small["ring"]
    # large messages: bandwidth dominates, ring/Rabenseifner send 2(p-1)/p n, the others more
    large = {a: costs.allreduce_time(1e9, p, BW, ALPHA, a) for a in costs.ALGORITHMS}
    assert large["ring"] < large["tree"] < large["parameter_server"]
    assert large["rabenseifner"] < large["recursive_doubling"]
    # a parameter server grows linearly with p, the ring's bandwidth term stays below 2 n beta
    ps = costs.allreduce_time(1e8, [4, 8, 16], BW, 0.0, "parameter_server")
    np.testing.assert_allclose(ps / ps[0], [1, 7 / 3, 5])
    assert np.all(costs.allreduce_time(1e8, [4, 64, 1024], BW, 0.0) < 2 * 1e8 / BW)


@given(
    nbytes=st.floats(1, 1e10), n=st.integers(2, 4096), bw=st.floats(1e6, 1e13)
)
def test_ring_bus_bandwidth_equals_link_bandwidth(nbytes, n, bw):
    """nccl-tests' busbw of a latency-free ring all-reduce is the link bandwidth, for any n."""
    t = costs.allreduce_time(nbytes, n, bw, 0.0)
    assert costs.bus_bandwidth(nbytes, t, n) == pytest.approx(bw, rel=1e-9)


def test_busbw_factors_as_nccl_tests():
    assert costs.busbw_factor(8) == pytest.approx(2 * 7 / 8)
    for c in ("reducescatter", "allgather", "alltoall"):
        assert costs.busbw_factor(8, c) == pytest.approx(7 / 8)
    for c in ("broadcast", "reduce"):
        assert costs.busbw_factor(8, c) == 1.0
    assert costs.algorithm_bandwidth(1e9, 0.5) == 2e9


def test_vectorised_broadcasting():
    t = costs.allreduce_time(np.array([1e3, 1e6, 1e9])[:, None], np.array([2, 4, 8, 16]), BW, ALPHA)
    assert t.shape == (3, 4)
    assert np.all(np.diff(t, axis=0) > 0) and np.all(np.diff(t, axis=1) > 0)
    assert isinstance(costs.allreduce_time(1e6, 4, BW, ALPHA), float)


def test_paper_pcie_switch_alexnet_example():
    """8-bit paper, section 1: 60M parameters, 4 GPUs, 7 GB/s, 4 messages of ~32 ms = ~128 ms."""
    nbytes = 60e6 * 4
    assert nbytes / GIB == pytest.approx(0.223, abs=1e-3)  # "0.223 GB" (0.2235, truncated)
    assert costs.pcie_switch_bandwidth(4) == 7 * GIB
    assert costs.pcie_switch_bandwidth(2) == 14 * GIB
    per_message = message_time(nbytes, costs.pcie_switch_bandwidth(4), 0.0)
    assert per_message == pytest.approx(0.032, abs=5e-4)  # "~32 ms each"
    assert costs.pcie_switch_sync_time(nbytes, 4) == pytest.approx(0.128, abs=1e-3)  # "128 ms"
    assert costs.pcie_switch_sync_time(nbytes, 1) == 0.0


@given(
    alpha=st.floats(1e-7, 1e-3), bw=st.floats(1e8, 1e11), noise=st.floats(-0.02, 0.02)
)
def test_fit_recovers_alpha_and_bandwidth(alpha, bw, noise):
    sizes = np.array([4e3, 6.4e4, 1e6, 1.6e7])
    p = np.array([2, 2, 4, 4])
    t = costs.allreduce_time(sizes, p, bw, alpha) * (1 + noise * np.array([1, -1, 1, -1]))
    fit = costs.fit_allreduce(sizes, p, t)
    assert isinstance(fit, AlphaBeta)
    predicted = costs.allreduce_time(sizes, p, fit.bandwidth, fit.alpha)
    np.testing.assert_allclose(predicted, t, rtol=0.05)


def test_fit_two_points_exactly():
    t = costs.allreduce_time([4096, 2e6], 2, 3e9, 1e-4)
    fit = costs.fit_allreduce([4096, 2e6], 2, t)
    assert fit.alpha == pytest.approx(1e-4) and fit.bandwidth == pytest.approx(3e9)


def test_fit_two_points_exactly_with_one_rank_count_per_measurement():
    """The same fit with the tree algorithm's counts on 4 ranks, n given per measurement."""
    t = costs.allreduce_time([4096, 2e6], [4, 4], 3e9, 1e-4, "tree")
    fit = costs.fit_allreduce([4096, 2e6], [4, 4], t, "tree")
    assert fit.alpha == pytest.approx(1e-4) and fit.bandwidth == pytest.approx(3e9)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n=0), ValueError, "n must be >= 1"),
        (dict(n=2.5), ValueError, "n must be a whole number"),
        (dict(nbytes=-1), ValueError, "nbytes must be >= 0"),
        (dict(bandwidth=0), ValueError, "bandwidth must be > 0"),
        (dict(latency=-1e-6), ValueError, "latency must be >= 0"),
        (dict(nbytes=math.nan), ValueError, "nbytes must be finite"),
        (dict(nbytes="1MB"), TypeError, "nbytes must be a real number"),
        (dict(n=True), TypeError, "n must be a real number"),
        (dict(algorithm="butterfly"), ValueError, "algorithm must be one of"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, exc, match):
    args = dict(nbytes=1e6, n=4, bandwidth=BW, latency=ALPHA, algorithm="ring") | kwargs
    with pytest.raises(exc, match=match):
        costs.allreduce_time(**args)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="collective must be one of"):
        costs.busbw_factor(4, "gather")
    with pytest.raises(ValueError, match="seconds must be > 0"):
        costs.bus_bandwidth(1e6, 0.0, 4)
    with pytest.raises(ValueError, match="n_gpus must be >= 1"):
        costs.pcie_switch_sync_time(1e6, 0)
    # was "at least 2 measurements": now the one fit's check (core.checks.check_series)
    with pytest.raises(ValueError, match="nbytes must contain at least two different sizes"):
        costs.fit_allreduce([1e6], [2], [1e-3])
    with pytest.raises(ValueError, match="n must be >= 2"):
        costs.fit_allreduce([1e3, 1e6], [1, 1], [1e-3, 2e-3])
    with pytest.raises(ValueError, match="nbytes and seconds must have the same length"):
        costs.fit_allreduce([1e3, 1e6], 2, [1e-3])
    with pytest.raises(ValueError, match=r"n must be one rank count or one per measurement"):
        costs.fit_allreduce([1e3, 1e6, 1e7], [2, 2], [1e-3, 2e-3, 3e-3])
    with pytest.raises(ValueError, match="algorithm must be one of"):
        costs.fit_allreduce([1e3, 1e6], 2, [1e-3, 2e-3], "star")


def test_leave_one_out_predicts_exact_alpha_beta_data_exactly():
    sizes = np.array([4096, 65536, 1048576, 2097152])
    t = costs.allreduce_time(sizes, 2, 2e9, 50e-6)
    np.testing.assert_allclose(costs.leave_one_out_errors(sizes, 2, t), 0, atol=1e-9)


def test_leave_one_out_flags_the_one_point_off_the_model():
    sizes = np.array([4096, 16384, 65536, 262144, 1048576, 2097152])
    t = costs.allreduce_time(sizes, 2, 2e9, 50e-6)
    t[2] *= 2  # one measurement twice as slow
    err = costs.leave_one_out_errors(sizes, 2, t)
    assert np.argmax(np.abs(err)) == 2 and err[2] == pytest.approx(-0.5, abs=0.02)


@pytest.mark.parametrize("sizes, times, match", [
    ([1, 2], [1.0, 2.0], "at least 3"),
    ([1, 2, 3], [1.0, 2.0], "same length"),
])
def test_leave_one_out_rejects_bad_input(sizes, times, match):
    with pytest.raises(ValueError, match=match):
        costs.leave_one_out_errors(sizes, 2, times)


# --- hierarchical all-reduce (nodes of GPUs on NVLink, a network between nodes) ---------

BI, BE, AI, AE = 450e9, 50e9, 0.6e-6, 2.7e-6  # NVLink 4, NDR per GPU, NCCL's hop latencies


def hier(nbytes, g, m, algorithm="ring", **kw):
    return costs.hierarchical_allreduce_time(nbytes, g, m, BI, BE, AI, AE, algorithm, **kw)


@pytest.mark.parametrize("algorithm", ["ring", "tree", "auto"])
def test_one_node_is_the_flat_ring_over_nvlink(algorithm):
    for g in (2, 3, 8, 72):
        assert hier(1e8, g, 1, algorithm) == pytest.approx(costs.allreduce_time(1e8, g, BI, AI))


@pytest.mark.parametrize("m", [2, 5, 64, 1024])
def test_one_gpu_per_node_ring_is_the_flat_ring_over_the_network(m):
    assert hier(1e8, 1, m) == pytest.approx(costs.allreduce_time(1e8, m, BE, AE))
    assert hier(0, 1, m) == pytest.approx(2 * (m - 1) * AE)


def test_ring_phases_add_up():
    g, m, n = 8, 16, 2.4e8
    expected = (2 * 7 * AI + 2 * 7 / 8 * n / BI          # reduce-scatter + all-gather in a node
                + 2 * 15 * AE + 2 * 15 / 16 * (n / 8) / BE)  # ring of each 1/8 shard over nodes
    assert hier(n, g, m) == pytest.approx(expected, rel=1e-12)


def test_tree_latency_is_nccls_tree_model():
    """NCCL's tuning.cc: tree latency = 2 ((g-1) intraLat + log2(nodes) interLat) + baseLat."""
    for g, m in [(8, 2), (8, 128), (4, 1000)]:
        t = hier(0, g, m, "tree", base_latency=6.8e-6)
        assert t == pytest.approx(6.8e-6 + 2 * ((g - 1) * AI + math.ceil(math.log2(m)) * AE))


def test_tree_beats_ring_for_small_messages_at_many_nodes_and_loses_for_large():
    m = np.array([64, 128, 1024])
    small_tree, small_ring = hier(4096, 8, m, "tree"), hier(4096, 8, m, "ring")
    assert np.all(small_tree < small_ring / 5)
    # large message on 2 nodes: the ring's (m-1)/m shard beats the tree's whole shard twice
    assert hier(1e9, 8, 2, "ring") < hier(1e9, 8, 2, "tree")
    # auto is NCCL's choice: the faster of the two, everywhere
    sizes = np.logspace(2, 10, 30)[:, None]
    both = np.minimum(hier(sizes, 8, m, "ring"), hier(sizes, 8, m, "tree"))
    np.testing.assert_allclose(hier(sizes, 8, m, "auto"), both)


def test_in_network_halves_the_bandwidth_term_asymptotically():
    n = 1e9
    # no latency: the ratio in-network / ring is the ratio of the bandwidth terms
    def ratio(g, m):
        return (costs.hierarchical_allreduce_time(n, g, m, BI, BE, 0, 0, "in_network",
                                                  in_network=True)
                / costs.hierarchical_allreduce_time(n, g, m, BI, BE, 0, 0, "ring"))
    assert ratio(1, 10**6) == pytest.approx(0.5, rel=1e-5)   # SHARP across nodes
    assert ratio(10**6, 1) == pytest.approx(0.5, rel=1e-5)   # NVLink SHARP in one node
    assert ratio(2, 1) == pytest.approx(1.0)                 # 2 GPUs: nothing to gain
    # DGX-like nodes: the gain grows with the number of nodes, towards one half
    assert 1.0 > ratio(8, 2) > ratio(8, 16) > ratio(8, 1024) > 0.5


def test_auto_considers_in_network_only_when_the_switches_can_reduce():
    plain = hier(1e9, 8, 64, "auto")
    with_sharp = hier(1e9, 8, 64, "auto", in_network=True)
    assert with_sharp == pytest.approx(hier(1e9, 8, 64, "in_network", in_network=True))
    assert with_sharp < plain


def test_one_gpu_costs_nothing_and_base_latency_is_paid_once_per_call():
    assert hier(1e9, 1, 1, "auto", base_latency=1e-5) == 0.0
    assert hier(0, 2, 1, base_latency=1e-5) == pytest.approx(1e-5 + 2 * AI)


def test_hierarchical_broadcasts_and_returns_float_for_scalars():
    t = hier(np.array([1e3, 1e6, 1e9])[:, None], 8, np.array([1, 2, 16, 128]))
    assert t.shape == (3, 4) and np.all(np.diff(t, axis=0) > 0) and np.all(np.diff(t, axis=1) > 0)
    assert isinstance(hier(1e6, 8, 4), float)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(gpus_per_node=0), ValueError, "gpus_per_node must be >= 1"),
    (dict(nodes=1.5), ValueError, "nodes must be a whole number"),
    (dict(nbytes=-1), ValueError, "nbytes must be >= 0"),
    (dict(intra_bandwidth=0), ValueError, "intra_bandwidth must be > 0"),
    (dict(inter_bandwidth=-5), ValueError, "inter_bandwidth must be > 0"),
    (dict(intra_alpha=-1e-6), ValueError, "intra_alpha must be >= 0"),
    (dict(inter_alpha=math.inf), ValueError, "inter_alpha must be finite"),
    (dict(base_latency=-1.0), ValueError, "base_latency must be >= 0"),
    (dict(algorithm="butterfly"), ValueError, "algorithm must be one of"),
    (dict(algorithm="in_network"), ValueError, "needs in_network=True"),
    (dict(in_network="yes"), TypeError, "in_network must be True or False"),
    (dict(nodes="4"), TypeError, "nodes must be a real number"),
])
def test_hierarchical_bad_input_raises(kwargs, exc, match):
    args = dict(nbytes=1e6, gpus_per_node=8, nodes=4, intra_bandwidth=BI, inter_bandwidth=BE,
                intra_alpha=AI, inter_alpha=AE) | kwargs
    with pytest.raises(exc, match=match):
        costs.hierarchical_allreduce_time(**args)
