from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.systems.hardware import pcie_bandwidth
from course_utils.systems.lanes import BuildError, lane_budget


def test_four_gpus_on_40_lanes_with_a_nic_run_at_x8():
    # The 8-bit paper's 4-GPU board: 8 PCIe 3.0 lanes per GPU, ~8 GB/s theoretical.
    b = lane_budget(40, 4, n_nics=1)
    assert [d.lanes for d in b.gpus] == [8, 8, 8, 8]
    assert b.lanes_used == 40 and b.lanes_free == 0
    assert b.min_gpu_host_bandwidth() == pytest.approx(7.88e9, rel=1e-3)
    assert any("narrowed" in n for n in b.notes)


def test_two_gpus_keep_x16():
    b = lane_budget(40, 2, n_nics=1)
    assert [d.lanes for d in b.gpus] == [16, 16]
    assert b.lanes_used == 40


def test_narrowing_is_one_gpu_at_a_time():
    b = lane_budget(40, 3)  # 48 wanted -> x16, x16, x8 = 40
    assert sorted(d.lanes for d in b.gpus) == [8, 16, 16]


def test_switch_pairs_share_the_uplink():
    b = lane_budget(40, 4, switches=2)
    x16 = pcie_bandwidth("3.0", 16)
    assert b.lanes_used == 32
    for d in b.gpus:
        assert d.lanes == 16 and d.bandwidth == pytest.approx(x16)
        assert d.host_bandwidth_all_busy == pytest.approx(x16 / 2)


def test_impossible_builds_are_refused_with_the_reason():
    with pytest.raises(BuildError, match=r"need 40 PCIe lanes, the CPU provides 28"):
        lane_budget(28, 4, n_nics=1)
    with pytest.raises(BuildError, match=r"need 5 slots, the board has 4"):
        lane_budget(40, 4, n_nics=1, slots=4)
    with pytest.raises(BuildError, match=r"2 switch uplink\(s\) at x16 need 32"):
        lane_budget(16, 4, switches=2)


@given(cpu=st.integers(8, 160), gpus=st.integers(1, 10), nics=st.integers(0, 2),
       gen=st.sampled_from(["3.0", "4.0", "5.0"]))
def test_a_build_never_uses_more_lanes_than_the_cpu_has(cpu, gpus, nics, gen):
    try:
        b = lane_budget(cpu, gpus, n_nics=nics, generation=gen)
    except BuildError as err:
        assert "impossible build" in str(err)
        assert gpus * 8 + nics * 8 > cpu
        return
    assert b.lanes_used <= cpu
    assert len(b.gpus) == gpus
    assert all(d.lanes in (8, 16) for d in b.gpus)
    assert all(d.host_bandwidth_all_busy <= d.bandwidth for d in b.devices)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"cpu_lanes": 0, "n_gpus": 1}, ValueError, "cpu_lanes must be >= 1"),
    ({"cpu_lanes": 40, "n_gpus": 0}, ValueError, "n_gpus must be >= 1"),
    ({"cpu_lanes": 40, "n_gpus": 1.5}, TypeError, "n_gpus must be an integer"),
    ({"cpu_lanes": 40, "n_gpus": 1, "gpu_lanes": 12}, ValueError, "gpu_lanes must be one of"),
    ({"cpu_lanes": 40, "n_gpus": 1, "min_gpu_lanes": 16, "gpu_lanes": 8}, ValueError,
     "min_gpu_lanes must be <= gpu_lanes"),
    ({"cpu_lanes": 40, "n_gpus": 1, "generation": "3"}, ValueError, "generation must be one of"),
    ({"cpu_lanes": 40, "n_gpus": 1, "slots": 0}, ValueError, "slots must be >= 1"),
    ({"cpu_lanes": 40, "n_gpus": 1, "n_nics": -1}, ValueError, "n_nics must be >= 0"),
])
def test_bad_arguments_raise_clear_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        lane_budget(**kwargs)
