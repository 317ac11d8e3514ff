"""Published figures the parallelism chapters need beyond :mod:`course_utils.systems.hardware`.

Chapters 2-3 (``notebooks/dp_communication``, ``dp_compression``, ``mp_speedup_model``).
Link bandwidths and GPU peaks live in the catalogue of :mod:`course_utils.systems.hardware`
(``course_utils/data/*.csv``). This module adds what that catalogue does not hold: the
8-bit paper's practical PCIe figures and measured small-message all-reduce latencies.
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

#: A 2-GPU NCCL all-reduce of small messages on an HGX H100 (NVLink, NVLSTree) takes about
#: 6 us [external]. Seconds.
NVLINK_ALLREDUCE_LATENCY = 6e-6
NVLINK_ALLREDUCE_LATENCY_SOURCE = "https://github.com/NVIDIA/nccl/issues/1259"

#: An 8-byte NCCL all-reduce between 2 nodes (one A100 each, HDR InfiniBand) takes about
#: 19 us [external]; no NDR figure is in our sources, so this HDR figure stands in. Seconds.
IB_ALLREDUCE_LATENCY = 19e-6
IB_ALLREDUCE_LATENCY_SOURCE = "https://github.com/NVIDIA/nccl-tests/issues/150"
