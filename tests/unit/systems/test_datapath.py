from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.systems import datapath as dp
from course_utils.systems.hardware import link

MB = 4_000_000  # the 4 MB gradient of parallelism.md section 1


def test_staged_path_is_the_sum_of_its_hops():
    t = dp.timeline(MB, dp.staged_route("pcie3", "ib_fdr"))
    pcie, fdr = link("pcie3").bandwidth, link("ib_fdr").bandwidth
    assert t.total == pytest.approx(2 * MB / pcie + MB / fdr + link("ib_fdr").latency)
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts) and t.segments[0].start == 0
    for a, b in zip(t.segments, t.segments[1:], strict=False):
        assert b.start == pytest.approx(a.end)  # store and forward


def test_gpudirect_runs_at_the_slowest_link():
    t = dp.timeline(MB, dp.rdma_route("pcie3", "ib_fdr"))
    assert t.total == pytest.approx(MB / link("ib_fdr").bandwidth + 6e-6)
    staged = dp.timeline(MB, dp.staged_route("pcie3", "ib_fdr"))
    assert t.total < staged.total


def test_xdr_is_limited_by_a_pcie5_slot():
    (stage,) = dp.rdma_route("pcie5", "ib_xdr")
    assert stage.bandwidth == link("pcie5").bandwidth < link("ib_xdr").bandwidth


def test_host_copies_add_two_stages():
    route = dp.staged_route("pcie3", "ib_qdr", host_copy_bandwidth=5e9)
    assert len(route) == 5
    t = dp.timeline(MB, route)
    assert t.stage_times()[dp.HOST_COPY_LABEL + " 1"] == pytest.approx(MB / 5e9)


def test_direct_nvlink():
    t = dp.timeline(MB, dp.direct_route("nvlink4"))
    assert t.total == pytest.approx(MB / 450e9)
    assert t.bandwidth == pytest.approx(450e9)


@given(chunks=st.integers(1, 64), nbytes=st.integers(1000, 10**8))
def test_pipelining_never_hurts_without_latency_and_is_bounded_below(chunks, nbytes):
    route = [dp.Stage("a", 10e9), dp.Stage("b", 5e9), dp.Stage("c", 10e9)]
    one = dp.timeline(nbytes, route).total
    many = dp.timeline(nbytes, route, chunks=chunks).total
    assert many <= one * (1 + 1e-12)
    assert many >= nbytes / 5e9 * (1 - 1e-12)  # the slowest stage must move every byte
    assert len(dp.timeline(nbytes, route, chunks=chunks).segments) == 3 * chunks


def test_pipeline_formula_for_equal_chunks():
    route = [dp.Stage("a", 1.0), dp.Stage("b", 2.0)]
    # 4 chunks of 2 bytes: a takes 2 s, b 1 s per chunk -> 4*2 + 1 = 9 s
    assert dp.timeline(8, route, chunks=4).total == pytest.approx(9.0)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: dp.timeline(0, [dp.Stage("a", 1.0)]), ValueError, "nbytes must be >= 1"),
    (lambda: dp.timeline(10, []), TypeError, "route must be a non-empty list"),
    (lambda: dp.timeline(10, [dp.Stage("a", 1.0)], chunks=11), ValueError, "chunks must be <="),
    (lambda: dp.Stage("a", 0.0), ValueError, "bandwidth must be > 0"),
    (lambda: dp.Stage("a", 1.0, -1.0), ValueError, "latency must be >= 0"),
    (lambda: dp.staged_route("pcie9", "ib_fdr"), ValueError, "pcie must be one of"),
    (lambda: dp.rdma_route("pcie3", "ib_fdr", network_latency=-1), ValueError,
     "network_latency must be >= 0"),
])
def test_bad_input_raises_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
