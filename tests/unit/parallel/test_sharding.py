"""ZeRO/FSDP memory and communication, tensor/context/pipeline/expert traffic."""

from __future__ import annotations

import pytest

from course_utils.parallel import sharding as sh
from course_utils.parallel.planner import MEGATRON_BF16, dgx_topology, published_figures

TOPO = sh.Topology("test", 8, 100e9, 10e9, 0.0, 0.0, 0.0)


def test_zero_memory_example_within_10_percent():
    f = published_figures("zero_7p5b")
    assert f["k_bytes"] == 12  # mixed-precision Adam, as TRAININGS["mixed_adam"]
    keys = ("baseline_gb", "pos_gb", "pos_g_gb", "pos_g_p_gb")
    for stage, key in enumerate(keys):
        got = sh.model_state_bytes(f["params"], int(f["dp"]), stage).total / 1e9
        assert got == pytest.approx(f[key], rel=0.10), key


def test_megatron_distributed_optimizer_bytes_per_parameter():
    f = published_figures("megatron_dist_opt")
    assert sh.model_state_bytes(1, 1, 0, MEGATRON_BF16).total == f["bf16_fp32_bytes"]
    d = 64
    per = sh.model_state_bytes(1e9, d, 1, MEGATRON_BF16).total / 1e9
    assert per == pytest.approx(f["bf16_fp32_fixed_bytes"] + f["bf16_fp32_sharded_bytes"] / d)


def test_zero3_sends_half_as_much_again():
    assert sh.dp_comm_values(1e9, 8, 3) == pytest.approx(1.5 * sh.dp_comm_values(1e9, 8, 1))
    assert sh.dp_comm_values(1e9, 1, 0) == 0
    assert sh.dp_comm_time(1e9, 8, TOPO, stage=3) == pytest.approx(
        1.5 * sh.dp_comm_time(1e9, 8, TOPO, stage=2))


def test_topology_groups_and_tp_crossing_the_domain_is_slower():
    assert TOPO.group(8) == (8, 1)
    assert TOPO.group(16) == (8, 2)
    assert TOPO.group(4, stride=8) == (1, 4)
    inside = sh.tp_comm_time(4096, 4096, 8, TOPO)
    across = sh.tp_comm_time(4096, 4096, 16, TOPO)
    assert across > 1.5 * inside  # the shard crosses InfiniBand, 10x slower per byte
    # four ring all-reduces of 2-byte values on 8 GPUs: 4 * 2 (7/8) n / B
    n = 4096 * 4096 * 2
    assert inside == pytest.approx(4 * 2 * 7 / 8 * n / 100e9)


def test_context_pipeline_expert_volumes():
    assert sh.cp_comm_bytes(1000, 10, 1) == 0
    assert sh.cp_comm_bytes(1000, 10, 4) == pytest.approx(3 * 3 * 2 * 1000 * 10 / 4 * 2)
    assert sh.pp_p2p_bytes(100, 10) == 4000
    assert sh.p2p_time(1e9, TOPO, across=True) == pytest.approx(0.1)
    assert sh.ep_alltoall_time(100, 10, 1, TOPO) == 0
    t8, t16 = (sh.ep_alltoall_time(4096, 4096, e, TOPO) for e in (8, 16))
    assert t16 > t8
    real = dgx_topology("h100")
    assert real.link(8) == (real.nvlink_bandwidth, real.nvlink_alpha)


@pytest.mark.parametrize("call,exc", [
    (lambda: sh.Topology("x", 0, 1, 1), ValueError),
    (lambda: sh.Topology("x", 8, 0, 1), ValueError),
    (lambda: sh.model_state_bytes(1, 1, 4), ValueError),
    (lambda: sh.model_state_bytes(1, 0), ValueError),
    (lambda: sh.model_state_bytes(1, 1, 0, "adam"), ValueError),
    (lambda: sh.dp_comm_values(-1, 2), ValueError),
    (lambda: sh.dp_comm_time(1, 2, "dgx"), TypeError),
    (lambda: sh.tp_comm_time(1, 1, 0, TOPO), ValueError),
    (lambda: sh.cp_comm_bytes(1, 1, 0), ValueError),
    (lambda: sh.pp_p2p_bytes(0, 1), ValueError),
    (lambda: sh.p2p_time(1, TOPO, across=1), TypeError),
    (lambda: sh.ep_alltoall_time(1, 1, 2, TOPO, top_k=0), ValueError),
])
def test_bad_inputs_raise(call, exc):
    with pytest.raises(exc):
        call()
