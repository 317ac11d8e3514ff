"""Interconnects in 2026: NVLink domains, in-network reduction, rails, bytes per FLOP.

* **NVLink domains.** An NVSwitch connects every GPU of a domain to every other at the
  full NVLink rate. An HGX/DGX node is a domain of 8 GPUs; the GB200 NVL72 rack is one of
  72 (:data:`NVL72_GPUS`). :func:`nvlink_domain_bandwidth` multiplies out the aggregate.
* **In-network reduction** (NVLink SHARP, "NVLS", in the NVSwitch; SHARP in InfiniBand
  switches): the switch adds, so each GPU sends its data once and receives the sum once,
  instead of the ring's ``2(n-1)/n`` times. The time model is
  :func:`course_utils.parallel.costs.hierarchical_allreduce_time` (``"in_network"``); the
  NCCL measurements it is checked against are :data:`NCCL_H100_MEASURED`.
* **Rail-optimised fat trees.** GPU ``i`` of every node connects to leaf switch ``i``
  (rail ``i``) of its group; traffic between same-index GPUs stays one switch hop away,
  anything else crosses a spine (3 hops in a two-tier tree). :func:`switch_hops`,
  :func:`spine_fraction`.
* **Bytes per FLOP** of a GPU's memory and GPU-to-GPU link, 2014-2024, at FP32 and at the
  training precision of the day (:func:`bytes_per_flop_trend`), from the catalogue of
  :mod:`course_utils.systems.hardware`.

Units: bytes/s (per direction unless said), FLOP/s, bytes per FLOP.

Used in: :doc:`/notebooks/modern_interconnects_precision`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.checks import check_choice, check_int
from . import hardware as hw

__all__ = [
    "NVL72_GPUS",
    "NVL72_SWITCH_CHIPS",
    "NVL72_PUBLISHED_AGGREGATE",
    "NVL72_SOURCE",
    "NCCL_H100_MEASURED",
    "NCCL_H100_SOURCE",
    "RAIL_GROUP_NODES",
    "RAIL_GROUP_SOURCE",
    "LAYOUTS",
    "PRECISIONS",
    "BYTES_PER_VALUE",
    "TREND_GPUS",
    "FP8_TFLOPS",
    "nvlink_domain_bandwidth",
    "switch_hops",
    "spine_fraction",
    "peak_flops_at",
    "bytes_per_flop",
    "TrendPoint",
    "bytes_per_flop_trend",
]

#: GB200 NVL72 [external]: 18 compute trays and 9 NVLink switch trays of 2 switch chips per
#: rack; all 72 GPUs in one NVLink domain; each GPU has one NVLink 5 link to each of the
#: 18 switch chips, 1.8 TB/s (bidirectional) per GPU.
NVL72_SOURCE = ("https://docs.nvidia.com/dgx-superpod/reference-architecture-scalable-"
                "infrastructure-gb200/latest/network-fabrics.html")
NVL72_GPUS = 72
NVL72_SWITCH_CHIPS = 18
#: NVIDIA's aggregate NVLink bandwidth of one NVL72 domain, "130 TB/s" (bidirectional),
#: bytes/s [external]: https://zdszero.github.io/Computer/Artificial_Intelligence/Hardware.html
#: (copy of NVIDIA's table; /work/shared reference file, multi-gpu-systems.md section 3).
NVL72_PUBLISHED_AGGREGATE = 130e12

#: NCCL all-reduce on 8 H100 SXM (NVLink 4, 450 GB/s per direction line rate), large
#: messages, as NCCL's maintainer gives them [external]: ``effective`` = what NCCL gets
#: from NVLink after protocol overhead (the ring's busbw); ``nvls_busbw`` and
#: ``nvls_algbw`` = NVLink SHARP (nccl-tests still reports busbw = algbw x 2(n-1)/n).
#: bytes/s.
NCCL_H100_MEASURED = {"gpus": 8, "effective": 370e9, "nvls_busbw": 480e9, "nvls_algbw": 275e9}
NCCL_H100_SOURCE = "https://github.com/NVIDIA/nccl-tests/issues/212"

#: DGX SuperPOD with DGX B300 [external]: "each group of 64 nodes is rail-aligned"; traffic
#: on one rail is one hop from the other nodes of the group, traffic between rails or
#: groups crosses the spine. Nodes per rail group.
RAIL_GROUP_NODES = 64
RAIL_GROUP_SOURCE = ("https://docs.nvidia.com/dgx-superpod/reference-architecture/"
                     "scalable-infrastructure-b300/latest/network-fabrics.html")

#: "rail": NIC i of every node of a group on leaf switch i; "tor": all NICs of a node on
#: one top-of-rack leaf (the same leaf switch then serves leaf_ports / gpus_per_node nodes).
LAYOUTS = ("rail", "tor")

PRECISIONS = ("fp32", "fp16", "bf16", "fp8")
BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}

#: The data-centre training GPUs of the trend and the training precision of their day:
#: FP32 on Kepler; FP16 from Pascal (packed FP16) and Volta (tensor cores, mixed precision,
#: https://arxiv.org/abs/1710.03740); BF16 from Ampere.
TREND_GPUS = {"Tesla K80": "fp32", "P100 SXM2": "fp16", "V100 SXM2": "fp16",
              "A100 SXM 80GB": "bf16", "H100 SXM5": "bf16", "B200 HGX": "bf16"}

#: Dense FP8 tensor peaks, TFLOP/s [external], as in the notes of the catalogue rows
#: (course_utils/data/gpus.csv): H100 SXM5 https://glennklockwood.com/garden/processors/h100 ;
#: B200 HGX https://glennklockwood.com/garden/processors/B200 .
FP8_TFLOPS = {"H100 SXM5": 1978.9, "B200 HGX": 4500.0}


def nvlink_domain_bandwidth(gpus: int, link_name: str) -> float:
    """Aggregate NVLink bandwidth of a domain, bytes/s, both directions summed (NVIDIA's
    convention): ``gpus`` x 2 x the link's per-direction rate (``link_name`` from
    :func:`course_utils.systems.hardware.links`, kind "nvlink")."""
    gpus = check_int("gpus", gpus, minimum=1)
    lk = hw.link(link_name, param="link_name")
    if lk.kind != "nvlink":
        raise ValueError(f"link_name must be an NVLink link, got {link_name!r} ({lk.kind})")
    return gpus * 2 * lk.bandwidth


def _leaf(node: int, rail: int, gpus_per_node: int, leaf_ports: int, layout: str) -> tuple:
    if layout == "rail":
        return (node // leaf_ports, rail)
    return (node // max(leaf_ports // gpus_per_node, 1), -1)


def switch_hops(
    node_a: int, rail_a: int, node_b: int, rail_b: int, *,
    gpus_per_node: int = 8, leaf_ports: int = RAIL_GROUP_NODES, layout: str = "rail",
) -> int:
    """Network switches between GPU ``rail_a`` of ``node_a`` and ``rail_b`` of ``node_b``
    in a two-tier leaf/spine fat tree: 0 in the same node (NVLink), 1 under one leaf, 3
    through a spine. ``leaf_ports``: GPU-facing ports per leaf switch."""
    check_choice("layout", layout, LAYOUTS)
    g = check_int("gpus_per_node", gpus_per_node, minimum=1)
    ports = check_int("leaf_ports", leaf_ports, minimum=1)
    a, b = check_int("node_a", node_a, minimum=0), check_int("node_b", node_b, minimum=0)
    ra = check_int("rail_a", rail_a, minimum=0, maximum=g - 1)
    rb = check_int("rail_b", rail_b, minimum=0, maximum=g - 1)
    if a == b:
        return 0
    return 1 if _leaf(a, ra, g, ports, layout) == _leaf(b, rb, g, ports, layout) else 3


def spine_fraction(
    nodes: int, *, gpus_per_node: int = 8, leaf_ports: int = RAIL_GROUP_NODES,
    layout: str = "rail",
) -> float:
    """Fraction of the messages of a hierarchical all-reduce (GPU ``i`` of each node talks
    to GPU ``i`` of every other node) that cross a spine switch, for ``nodes`` nodes."""
    check_choice("layout", layout, LAYOUTS)
    n = check_int("nodes", nodes, minimum=2)
    g = check_int("gpus_per_node", gpus_per_node, minimum=1)
    ports = check_int("leaf_ports", leaf_ports, minimum=1)
    group = ports if layout == "rail" else max(ports // g, 1)  # nodes under one leaf
    full, rest = divmod(n, group)
    same_leaf_pairs = full * group * (group - 1) + rest * (rest - 1)
    return 1 - same_leaf_pairs / (n * (n - 1))


def peak_flops_at(gpu_name: str, precision: str) -> float:
    """Dense peak FLOP/s of catalogue GPU ``gpu_name`` at ``precision`` (fp16 and bf16:
    the tensor peak; fp8: :data:`FP8_TFLOPS`)."""
    check_choice("precision", precision, PRECISIONS)
    g = hw.gpu(gpu_name)
    value = {"fp32": g.fp32_flops, "fp16": g.tensor_flops, "bf16": g.tensor_flops,
             "fp8": FP8_TFLOPS.get(gpu_name, 0) * 1e12 or None}[precision]
    if value is None:
        have = tuple(p for p in PRECISIONS if p != precision and
                     {"fp32": g.fp32_flops, "fp16": g.tensor_flops, "bf16": g.tensor_flops,
                      "fp8": FP8_TFLOPS.get(gpu_name)}[p] is not None)
        raise ValueError(f"precision must be one of {have} for {gpu_name!r} (the catalogue's "
                         f"peaks), got {precision!r}")
    return value


def _resource_bandwidth(gpu_name: str, resource: str) -> float:
    g = hw.gpu(gpu_name)
    if resource == "memory":
        bw = g.memory_bandwidth
    else:  # GPU-to-GPU link: NVLink if the GPU has it, else its PCIe host link
        name = g.nvlink or g.host_link
        bw = hw.link(name).bandwidth if name else None
    if bw is None:
        raise ValueError(f"gpu_name must name a GPU with a {resource} bandwidth in the "
                         f"catalogue, got {gpu_name!r}")
    return bw


def bytes_per_flop(gpu_name: str, precision: str = "fp32", resource: str = "memory") -> float:
    """Bytes per FLOP: ``resource`` bandwidth ("memory", or "link": NVLink or PCIe, one
    direction) / dense peak FLOP/s at ``precision``."""
    check_choice("resource", resource, ("memory", "link"))
    return _resource_bandwidth(gpu_name, resource) / peak_flops_at(gpu_name, precision)


@dataclass(frozen=True)
class TrendPoint:
    """One GPU of the trend: bytes per FLOP and numbers (values) per FLOP."""

    gpu: str
    year: int
    precision: str
    bytes_per_flop: float
    values_per_flop: float


def bytes_per_flop_trend(precision: str = "fp32", resource: str = "memory") -> list[TrendPoint]:
    """:func:`bytes_per_flop` for every :data:`TREND_GPUS` GPU, in year order.

    ``precision``: "fp32", "training" (the precision of each GPU's day, from
    :data:`TREND_GPUS`) or "fp8" (only GPUs with an FP8 peak). ``values_per_flop`` =
    bytes per FLOP / bytes per value at that precision.
    """
    check_choice("precision", precision, ("fp32", "training", "fp8"))
    out = []
    for name, of_the_day in TREND_GPUS.items():
        p = of_the_day if precision == "training" else precision
        if p == "fp8" and name not in FP8_TFLOPS:
            continue
        b = bytes_per_flop(name, p, resource)
        out.append(TrendPoint(name, hw.gpu(name).year, p, b, b / BYTES_PER_VALUE[p]))
    return sorted(out, key=lambda t: t.year)
