"""Published figures the parallelism chapters need beyond :mod:`course_utils.systems.hardware`.

Chapters 2-3 (``notebooks/dp_communication``, ``dp_compression``, ``mp_speedup_model``).
Link bandwidths and GPU peaks live in the catalogue of :mod:`course_utils.systems.hardware`
(``course_utils/data/*.csv``). This module adds what that catalogue does not hold: the
8-bit paper's practical PCIe and InfiniBand figures, NCCL's per-hop latencies (the
alpha of the hierarchical all-reduce model,
:func:`course_utils.parallel.costs.hierarchical_allreduce_time`) and two measured
small-message all-reduce times to check them against.
Units: bytes/s, seconds. Each figure is tagged: [stated] (the source says it),
[inferred] (derived from what the source says), [external] (a source beyond the
paper and the blog posts).

Used in: :doc:`/notebooks/dp_communication`, :doc:`/notebooks/dp_compression`.
"""

from __future__ import annotations

__all__ = [
    "GIB",
    "PAPER_URL",
    "PAPER_PCIE_2GPU_BANDWIDTH",
    "PAPER_PCIE_SHARED_BANDWIDTH",
    "PAPER_FDR_BANDWIDTH",
    "NCCL_TUNING_URL",
    "NCCL_BASE_LATENCY",
    "NCCL_NVLINK_HOP_LATENCY",
    "NCCL_NET_HOP_LATENCY",
    "DGX_H100_GPUS",
    "NVLINK_ALLREDUCE_LATENCY",
    "NVLINK_ALLREDUCE_LATENCY_SOURCE",
    "IB_ALLREDUCE_LATENCY",
    "IB_ALLREDUCE_LATENCY_SOURCE",
]

#: The 8-bit paper's "GB" are binary: 60M float32 parameters = 0.223 GB = 0.2235 GiB,
#: and 0.223 / 7 = 32 ms ("~32 ms each") only in the same units [inferred].
GIB = 2**30
PAPER_URL = "https://arxiv.org/abs/1511.04561"

#: Dettmers 2016, section 2.3 [stated]: practical PCIe bandwidth is about 14 GB/s with two
#: GPUs in a box and about 7 GB/s with more (slot pairs share a PCIe switch). bytes/s.
PAPER_PCIE_2GPU_BANDWIDTH = 14 * GIB
PAPER_PCIE_SHARED_BANDWIDTH = 7 * GIB

#: Dettmers 2016, Appendix 5.2 [stated]: the 32-node cluster model assumes FDR InfiniBand
#: delivers "~6 GB/s" for most messages (binary GB, as above [inferred]). This is the
#: paper's *practical* rate; FDR's nominal data rate is the catalogue's
#: ``hardware.link("ib_fdr").bandwidth`` (6.75 GB/s), and the paper's FDR latency
#: (Table 5, 0.006 ms for a 3 kB message) is ``hardware.link("ib_fdr").latency``. bytes/s.
PAPER_FDR_BANDWIDTH = 6 * GIB

#: NCCL 2.20.3's cost model, ``src/graph/tuning.cc`` [external]. NCCL prices a collective
#: as ``baseLat + hops * hwLat + bytes / bandwidth`` and picks the fastest algorithm and
#: protocol per call; a ring all-reduce pays ``hwLat`` per step, a tree
#: ``2 ((g-1) hwLat_intra + log2(nodes) hwLat_net)``.
NCCL_TUNING_URL = (
    "https://github.com/NVIDIA/nccl/blob/b6475625fbcaa2c3c0e50eed2fa1255d7514d4a2/"
    "src/graph/tuning.cc"
)
#: ``baseLat`` of the ring, LL (low-latency) protocol: the fixed cost of one collective
#: call, 6.6 us (the tree's is 6.8 us) [external]. Seconds.
NCCL_BASE_LATENCY = 6.6e-6
#: ``hwLat[NVLINK]``, ring and tree, LL protocol: 0.6 us per step over NVLink [external].
#: Seconds.
NCCL_NVLINK_HOP_LATENCY = 0.6e-6
#: ``hwLat[NET]``, ring, LL protocol: 2.7 us per step over the network (InfiniBand or
#: RoCE) [external]. NCCL charges its tree 5.0 us per network step and its large-message
#: protocol (Simple) 14 us per ring step; the course's model uses one alpha per link.
#: Seconds.
NCCL_NET_HOP_LATENCY = 2.7e-6

#: A DGX H100 has 8 H100 GPUs on NVLink 4 (NVSwitch) and one 400 Gb/s NDR port per GPU
#: (ConnectX-7) [external, re-check]: https://docs.nvidia.com/dgx/ (the ``ib_ndr`` row of
#: the link catalogue cites the same page). GPUs per node.
DGX_H100_GPUS = 8

#: A whole 2-GPU NCCL all-reduce of small messages on an HGX H100 (NVLink, NVLSTree) takes
#: about 6 us [external]: the time of one collective call, not a per-hop alpha. Seconds.
NVLINK_ALLREDUCE_LATENCY = 6e-6
NVLINK_ALLREDUCE_LATENCY_SOURCE = "https://github.com/NVIDIA/nccl/issues/1259"

#: A whole 8-byte NCCL all-reduce between 2 nodes (one A100 each, HDR InfiniBand) takes
#: about 19 us [external]: the time of one collective call, not a per-hop alpha; no NDR
#: figure is in our sources. Seconds.
IB_ALLREDUCE_LATENCY = 19e-6
IB_ALLREDUCE_LATENCY_SOURCE = "https://github.com/NVIDIA/nccl-tests/issues/150"
