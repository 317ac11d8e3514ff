"""course_utils.parallel.comm_count: collectives counted on a real 2-process gloo group."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from course_utils.core.launchers import run_local
from course_utils.parallel import comm_count
from course_utils.parallel.comm_count import (
    Collective,
    count_collectives,
    total_bytes,
    wire_bytes,
)


def _worker(rank, world_size):
    x = torch.ones(10, dtype=torch.float64)
    with count_collectives() as log:
        dist.all_reduce(x)
        out = torch.empty(2 * 10, dtype=torch.float64)
        dist.all_gather_into_tensor(out, x)
        shard = torch.empty(5, dtype=torch.float32)
        dist.reduce_scatter_tensor(shard, torch.ones(10))
        pieces = [torch.empty(3) for _ in range(world_size)]
        dist.all_gather(pieces, torch.ones(3))
    restored = dist.all_reduce is not None and "counted" not in dist.all_reduce.__name__
    return log, float(x[0]), restored


def test_counts_each_collective_once_with_its_full_tensor():
    log, value, restored = run_local(_worker, nprocs=2, process_group="gloo")[0]
    assert value == 2.0  # the original collective still ran
    assert [r.kind for r in log] == ["all_reduce", "all_gather", "reduce_scatter", "all_gather"]
    assert [r.nbytes for r in log] == [80, 160, 40, 24]
    assert total_bytes(log) == 304
    assert total_bytes(log, "all_gather") == 184
    assert restored


def test_wire_bytes_ring_factors():
    assert wire_bytes(Collective("all_reduce", 800), 4) == pytest.approx(1200)
    assert wire_bytes(Collective("reduce_scatter_tensor", 800), 4) == pytest.approx(600)
    assert wire_bytes(Collective("all_gather", 800), 1) == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="world_size"):
        wire_bytes(Collective("all_reduce", 8), 0)
    with pytest.raises(TypeError, match="record"):
        wire_bytes(("all_reduce", 8), 2)
    with pytest.raises(ValueError, match="kind"):
        total_bytes([], kind="broadcast")
    with pytest.raises(ValueError, match="op"):
        Collective("broadcast", 8)
    with pytest.raises(ValueError, match="nbytes"):
        Collective("all_reduce", -1)
    with pytest.raises(ValueError, match="world_size"):
        comm_count.fsdp_traffic(10, 4, 0)
    with pytest.raises(TypeError, match="reshard_after_forward"):
        comm_count.fsdp_traffic(10, 4, 2, reshard_after_forward=1)
    with pytest.raises(ValueError, match="n_params"):
        comm_count.fsdp_traffic(0, 4, 2)
    with pytest.raises(ValueError, match="shapes"):
        comm_count.padded_numel([()], 2)
    with pytest.raises(ValueError, match="hidden"):
        comm_count.tp_traffic(64, 0, 8, 2)
    with pytest.raises(ValueError, match="blocks"):
        comm_count.tp_traffic(64, 8, 8, 2, blocks=0)
    with pytest.raises(ValueError, match="rank"):
        comm_count.powersgd_bytes([(4, 4)], rank=0)
    with pytest.raises(ValueError, match="scheme"):
        comm_count.scatter_gather_bytes(10, 2, "fp32")
    with pytest.raises(ValueError, match="n_values"):
        comm_count.scatter_gather_bytes(0, 2, "1bit")


def test_traffic_model_and_padding():
    t = comm_count.fsdp_traffic(1000, 2, 4)
    assert t["fsdp"]["wire"] == pytest.approx(1.5 * t["ddp"]["wire"]) == pytest.approx(4500)
    assert comm_count.padded_numel([(10, 3), (5,)], 4) == 12 * 3 + 8
    assert comm_count.fsdp_traffic(1000, 2, 4, reshard_after_forward=False)["fsdp"]["wire"] \
        == pytest.approx(3000)


def test_tp_traffic_counts_two_activation_allreduces_per_block():
    t = comm_count.tp_traffic(64, 32, 2, 2, blocks=3)
    assert t["forward"] == t["backward"] == 3 * 64 * 32 * 2
    assert t["wire"] == pytest.approx(2 * t["forward"])  # p = 2: all of each all-reduce


def test_powersgd_model():
    # 32x64 matrix, rank 1: 96 values; a vector is never compressed; 4x4 rank 1 is not worth it
    assert comm_count.powersgd_bytes([(32, 64)], bytes_per_value=1) == 96
    assert comm_count.powersgd_bytes([(32,)], bytes_per_value=1) == 32
    assert comm_count.powersgd_bytes([(4, 4)], bytes_per_value=1) == 16
    assert comm_count.scatter_gather_bytes(10, 2, "dynamic_tree") == 2 * 2 * (5 + 4)
    assert comm_count.scatter_gather_bytes(17, 1, "1bit") == 2 * (3 + 8)
