"""Tests for course_utils.parallel.figures: each published figure once, with its source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from course_utils.parallel import costs, figures
from course_utils.systems import hardware as hw

SOURCE = Path(figures.__file__).read_text()


def test_paper_fdr_is_the_papers_practical_rate_below_the_nominal_link():
    """App. 5.2 assumes ~6 GB/s (binary GB); the catalogue holds FDR's nominal 6.75 GB/s."""
    assert figures.PAPER_FDR_BANDWIDTH == 6 * figures.GIB
    assert figures.PAPER_FDR_BANDWIDTH < hw.link("ib_fdr").bandwidth
    assert hw.link("ib_fdr").latency == pytest.approx(6e-6)  # Table 5: 0.006 ms for 3 kB


def test_paper_pcie_figures():
    assert figures.PAPER_PCIE_2GPU_BANDWIDTH == 2 * figures.PAPER_PCIE_SHARED_BANDWIDTH


def test_nccl_latencies_are_per_hop_microseconds_from_a_pinned_source():
    assert 0 < figures.NCCL_NVLINK_HOP_LATENCY < figures.NCCL_NET_HOP_LATENCY < 5e-6
    assert figures.NCCL_NET_HOP_LATENCY < figures.NCCL_BASE_LATENCY < 1e-5
    assert re.search(r"github\.com/NVIDIA/nccl/blob/[0-9a-f]{40}/src/graph/tuning\.cc$",
                     figures.NCCL_TUNING_URL)


def test_whole_call_latencies_are_not_hop_latencies_but_the_model_predicts_them():
    """A measured small all-reduce is one whole call: several NCCL hops plus a base cost.
    The hierarchical model with NCCL's constants lands within a factor of 2 of both."""
    assert figures.IB_ALLREDUCE_LATENCY > 2 * figures.NCCL_NET_HOP_LATENCY
    args = dict(intra_bandwidth=hw.link("nvlink4").bandwidth,
                inter_bandwidth=hw.link("ib_ndr").bandwidth,
                intra_alpha=figures.NCCL_NVLINK_HOP_LATENCY,
                inter_alpha=figures.NCCL_NET_HOP_LATENCY,
                base_latency=figures.NCCL_BASE_LATENCY)
    nvlink = costs.hierarchical_allreduce_time(8, 2, 1, **args)
    two_nodes = costs.hierarchical_allreduce_time(8, 1, 2, **args)
    assert 0.5 < nvlink / figures.NVLINK_ALLREDUCE_LATENCY < 2
    assert 0.5 < two_nodes / figures.IB_ALLREDUCE_LATENCY < 2


def test_sources_are_urls():
    for name in ("PAPER_URL", "NCCL_TUNING_URL", "NVLINK_ALLREDUCE_LATENCY_SOURCE",
                 "IB_ALLREDUCE_LATENCY_SOURCE"):
        assert getattr(figures, name).startswith("https://"), name


def test_every_numeric_figure_carries_a_provenance_tag():
    """The comment block above each number (shared by the constants right under it)
    says where it comes from: [stated], [inferred] or [external]."""
    lines = SOURCE.splitlines()
    tree = ast.parse(SOURCE)
    numeric = [node for node in tree.body if isinstance(node, ast.Assign)
               and isinstance(node.targets[0], ast.Name)
               and node.targets[0].id in figures.__all__
               and isinstance(getattr(figures, node.targets[0].id), int | float)]
    assert len(numeric) >= 10
    for node in numeric:
        i = node.lineno - 2
        while i >= 0 and not lines[i].startswith("#:"):
            i -= 1  # skip the constants that share the block above
        block = []
        while i >= 0 and lines[i].startswith("#:"):
            block.append(lines[i])
            i -= 1
        text = " ".join(block)
        assert re.search(r"\[(stated|inferred|external)", text), node.targets[0].id
