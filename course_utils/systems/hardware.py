"""The hardware catalogue: GPUs, links and supercomputer networks 2012-2026, as data.

Every figure lives in a CSV file in ``course_utils/data/`` with its source URL and a
provenance tag: ``stated`` (the source says it), ``inferred`` (derived from what it
says) or ``external`` (a source beyond the blog posts and the paper). Chapter 1
(``notebooks/mgpu_hardware``, ``mgpu_measure``); also the convolution roofline
(chapter 4) and the brain timeline (chapter 5). Files:

* ``gpus.csv``: peak FP32 (at the boost clock, the catalogue's one convention; base-clock
  peaks beside them where a source quotes both) and tensor FLOP/s, FP32 cores and clocks,
  memory size and bandwidth, links, power;
* ``links.csv``: PCIe generations, NVLink generations, Ethernet and InfiniBand;
* ``systems.csv``: node injection bandwidth of supercomputers 2013-2026;
* ``prices.csv`` and ``platforms.csv``: GPU prices and host CPUs (PCIe lanes), used by
  :mod:`course_utils.parallel.build_planner`; found for this course, not in the posts.

Units: bandwidth in bytes/s (the CSV files hold GB/s = 10^9 B/s), FLOP/s, seconds,
watts. Link bandwidths are **per direction**; NVLink's published figures are
bidirectional totals and the catalogue stores half of them.

This module also holds the small calculators built on the catalogue: peak FLOP/s from
cores and clock (:func:`peak_flops`; the unit tests check every row with it), PCIe
bandwidth from the signalling rate, transfer time over a link, and doubling times.

Used in: :doc:`/notebooks/mgpu_hardware`, :doc:`/notebooks/mgpu_measure`,
:doc:`/notebooks/dp_communication`, :doc:`/notebooks/mp_pipeline_memory`,
:doc:`/notebooks/conv_3_cuda`, :doc:`/notebooks/brain_timeline`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..core.alphabeta import message_time
from ..core.checks import check_choice, check_int, check_number, check_series

__all__ = [
    "DATA_DIR",
    "TAGS",
    "GPU",
    "Link",
    "System",
    "gpus",
    "gpu",
    "links",
    "link",
    "systems",
    "read_table",
    "peak_flops",
    "PCIE_SIGNALLING",
    "pcie_link_name",
    "pcie_generation",
    "pcie_bandwidth",
    "transfer_time",
    "Growth",
    "growth",
]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"  # course_utils/data

#: Provenance tags a catalogue row may carry: "stated" (the source says it), "inferred"
#: (derived from it), "external" (beyond the posts and the paper; "re-check" where sources
#: disagree) and "external, found for this course" (prices and platforms: no source the
#: course's chapters build on gives them).
TAGS = ("stated", "inferred", "external", "external, re-check", "external, found for this course")

GB = 1e9  # bytes per GB (decimal, as in every datasheet)


def read_table(filename: str) -> list[dict[str, str]]:
    """Rows of ``course_utils/data/<filename>`` as dicts; lines starting with ``#`` are comments."""
    path = DATA_DIR / filename
    if not path.exists():
        raise ValueError(f"filename must name a file in {DATA_DIR}, got {filename!r}")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


@dataclass(frozen=True)
class GPU:
    """One GPU. ``None`` marks a figure our sources do not give.

    Attributes:
        fp32_flops: dense FP32 peak at the boost clock, FLOP/s.
        fp32_base_flops: the same at the base clock, where a source quotes it, FLOP/s.
        tensor_flops: dense FP16/BF16 tensor-core peak, FLOP/s.
        cores: FP32 CUDA cores of the whole board.
        base_clock, boost_clock: GPU clocks in Hz.
        memory_bytes: memory size in bytes.
        memory_bandwidth: bytes/s.
        host_link, nvlink: names of :class:`Link` rows.
        power_w: board power in watts.
        source: URL(s) separated by " ; ". tag: provenance tag of the row.
        extra_source, extra_note: where the fields named in ``extra_note`` come from.
        clock_source: where ``cores`` and the clocks come from.
    """

    name: str
    year: int
    role: str
    fp32_flops: float | None
    fp32_base_flops: float | None
    tensor_flops: float | None
    memory_bytes: float | None
    memory_bandwidth: float | None
    host_link: str | None
    nvlink: str | None
    power_w: float | None
    source: str
    tag: str
    note: str
    extra_source: str
    extra_note: str
    cores: int | None
    base_clock: float | None
    boost_clock: float | None
    clock_source: str

    @property
    def sources(self) -> list[str]:
        """Every URL the row cites."""
        text = " ; ".join((self.source, self.extra_source, self.clock_source))
        return [u.strip() for u in text.split(";") if u.strip()]


@dataclass(frozen=True)
class Link:
    """One link: ``bandwidth`` in bytes/s per direction, ``latency`` in seconds (or ``None``)."""

    name: str
    kind: str
    label: str
    year: int | None
    bandwidth: float
    published: str
    latency: float | None
    source: str
    tag: str
    note: str

    @property
    def sources(self) -> list[str]:
        """Every URL the row cites."""
        return [u.strip() for u in self.source.split(";") if u.strip()]


@dataclass(frozen=True)
class System:
    """A supercomputer's network: ``node_injection`` in bytes/s per node per direction."""

    system: str
    year: int
    network: str
    node_injection: float
    source: str
    tag: str
    note: str


def _scaled(text: str, factor: float) -> float | None:
    value = _float(text)
    return None if value is None else value * factor


@cache
def gpus() -> dict[str, GPU]:
    """The GPU catalogue, by name, in year order."""
    rows = [
        GPU(
            name=r["name"],
            year=int(r["year"]),
            role=r["role"],
            fp32_flops=_scaled(r["fp32_tflops"], 1e12),
            fp32_base_flops=_scaled(r["fp32_base_tflops"], 1e12),
            tensor_flops=_scaled(r["tensor_tflops"], 1e12),
            memory_bytes=_scaled(r["memory_gb"], GB),
            memory_bandwidth=_scaled(r["memory_bandwidth_gbs"], GB),
            host_link=r["host_link"] or None,
            nvlink=r["nvlink"] or None,
            power_w=_float(r["power_w"]),
            source=r["source"],
            tag=r["tag"],
            note=r["note"],
            extra_source=r["extra_source"],
            extra_note=r["extra_note"],
            cores=_int(r["cores"]),
            base_clock=_scaled(r["base_mhz"], 1e6),
            boost_clock=_scaled(r["boost_mhz"], 1e6),
            clock_source=r["clock_source"],
        )
        for r in read_table("gpus.csv")
    ]
    return {g.name: g for g in sorted(rows, key=lambda g: g.year)}


@cache
def links() -> dict[str, Link]:
    """The link catalogue (PCIe x16, NVLink, Ethernet, InfiniBand, Slingshot), by name."""
    out = {}
    for r in read_table("links.csv"):
        latency_us = _float(r["latency_us"])
        out[r["name"]] = Link(
            name=r["name"],
            kind=r["kind"],
            label=r["label"],
            year=_int(r["year"]),
            bandwidth=float(r["per_direction_gbs"]) * GB,
            published=r["published"],
            latency=None if latency_us is None else latency_us * 1e-6,
            source=r["source"],
            tag=r["tag"],
            note=r["note"],
        )
    return out


@cache
def systems() -> list[System]:
    """Supercomputer node injection bandwidths 2013-2026, in year order."""
    return [
        System(
            system=r["system"],
            year=int(r["year"]),
            network=r["network"],
            node_injection=float(r["node_injection_gbs"]) * GB,
            source=r["source"],
            tag=r["tag"],
            note=r["note"],
        )
        for r in read_table("systems.csv")
    ]


def gpu(name: str) -> GPU:
    """The catalogue entry for GPU ``name`` (e.g. ``"H100 SXM5"``)."""
    check_choice("name", name, tuple(gpus()))
    return gpus()[name]


def link(name: str, *, param: str = "name") -> Link:
    """The catalogue entry for link ``name`` (e.g. ``"pcie3"``, ``"ib_fdr"``, ``"nvlink4"``).

    ``param`` is the parameter name an error message uses (a caller's own name for it).
    """
    check_choice(param, name, tuple(links()))
    return links()[name]


def peak_flops(cores: int, clock_hz: float, flops_per_core_per_cycle: float = 2) -> float:
    """Peak FLOP/s of ``cores`` cores at ``clock_hz`` Hz: cores x FLOP per core per cycle x clock.

    The default of 2 FLOP per core per cycle is one fused multiply-add (FP32 on every
    GPU here); packed FP16 on a P100 does two FMAs, 4 FLOP per cycle.
    """
    per_cycle = check_number("flops_per_core_per_cycle", flops_per_core_per_cycle, minimum=0,
                             strict_minimum=True)
    return (check_int("cores", cores, minimum=1) * per_cycle
            * check_number("clock_hz", clock_hz, minimum=0, strict_minimum=True))


# --- PCIe ----------------------------------------------------------------------------

#: PCIe generation -> (transfer rate in GT/s per lane, line-code efficiency). PCIe 6.0
#: (PAM4, FLIT mode) has no simple line code; its x16 figure comes from ``links.csv``.
PCIE_SIGNALLING = {
    "2.0": (5.0, 8 / 10),
    "3.0": (8.0, 128 / 130),
    "4.0": (16.0, 128 / 130),
    "5.0": (32.0, 128 / 130),
    "6.0": (64.0, None),
}


def pcie_link_name(generation: str) -> str:
    """The catalogue name of a PCIe generation's x16 link: ``"3.0"`` -> ``"pcie3"``."""
    check_choice("generation", generation, tuple(PCIE_SIGNALLING))
    return "pcie" + generation.split(".")[0]


def pcie_generation(link_name: str) -> str:
    """The PCIe generation of a catalogue link name: ``"pcie3"`` -> ``"3.0"``.

    The one place that reads a generation from a name (the inverse of
    :func:`pcie_link_name`); ``links.csv`` and ``platforms.csv`` both name PCIe links so.
    """
    if not isinstance(link_name, str) or not link_name.startswith("pcie"):
        raise ValueError(f"link_name must be a PCIe link name such as 'pcie3', got {link_name!r}")
    generation = link_name[len("pcie"):] + ".0"
    return check_choice("link_name's generation", generation, tuple(PCIE_SIGNALLING))


def pcie_bandwidth(generation: str, lanes: int = 16) -> float:
    """Peak PCIe bandwidth in bytes/s per direction: GT/s x lanes x line code / 8.

    Args:
        generation: "2.0" ... "6.0".
        lanes: link width, one of 1, 2, 4, 8, 16.
    """
    check_choice("generation", generation, tuple(PCIE_SIGNALLING))
    lanes = check_int("lanes", lanes, minimum=1, maximum=16)
    if lanes not in (1, 2, 4, 8, 16):
        raise ValueError(f"lanes must be one of (1, 2, 4, 8, 16), got {lanes}")
    rate, code = PCIE_SIGNALLING[generation]
    if code is None:  # FLIT mode: scale the tabulated x16 figure
        return link(pcie_link_name(generation)).bandwidth * lanes / 16
    return rate * 1e9 * lanes * code / 8


def transfer_time(
    nbytes: float,
    link_name: str,
    *,
    lanes: int = 16,
    latency: float | None = None,
    efficiency: float = 1.0,
) -> float:
    """Seconds to move ``nbytes`` bytes one way over a catalogue link: alpha + n / bandwidth.

    Args:
        nbytes: message size in bytes.
        link_name: a name from :func:`links`.
        lanes: PCIe width (PCIe links only; others must leave it at 16).
        latency: alpha in seconds; default the link's catalogue latency, or 0 when the
            catalogue has none (PCIe: "microseconds, negligible" in the 8-bit paper).
        efficiency: fraction of the peak bandwidth achieved, in (0, 1].
    """
    nbytes = check_number("nbytes", nbytes, minimum=0)
    lk = link(link_name, param="link_name")
    efficiency = check_number("efficiency", efficiency, minimum=0, maximum=1, strict_minimum=True)
    if lk.kind == "pcie":
        bandwidth = pcie_bandwidth(pcie_generation(lk.name), lanes)
    elif lanes != 16:
        raise ValueError(f"lanes applies to PCIe links only, got lanes={lanes} for {link_name!r}")
    else:
        bandwidth = lk.bandwidth
    if latency is None:
        latency = lk.latency or 0.0
    latency = check_number("latency", latency, minimum=0)
    return float(message_time(nbytes, bandwidth * efficiency, latency))


# --- growth rates ---------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    """Exponential fit ``value = 2 ** ((year - year0) / doubling_years) * value0``.

    Attributes:
        doubling_years: years for the quantity to double.
        annual_factor: growth factor per year (2 ** (1 / doubling_years)).
        year0, value0: a point on the fitted line (the first year).
        n_points: how many (year, value) points the fit used.
    """

    doubling_years: float
    annual_factor: float
    year0: float
    value0: float
    n_points: int

    def predict(self, year: float | np.ndarray) -> float | np.ndarray:
        """The fitted value in ``year``."""
        years = np.asarray(year, dtype=float) - self.year0
        return self.value0 * 2.0 ** (years / self.doubling_years)


def growth(years: list[float], values: list[float]) -> Growth:
    """Least-squares fit of log2(value) against year: the doubling time it implies.

    Args:
        years: calendar years (at least two different ones).
        values: positive values, same length.
    """
    y, v = check_series("years", years, "values", values, x_word="years")
    slope, intercept = np.polyfit(y, np.log2(v), 1)
    if slope <= 0:
        raise ValueError(f"values do not grow over these years (slope {slope:.3g} doublings/year)")
    year0 = float(y.min())
    return Growth(
        doubling_years=float(1 / slope),
        annual_factor=float(2**slope),
        year0=year0,
        value0=float(2 ** (intercept + slope * year0)),
        n_points=int(y.size),
    )
