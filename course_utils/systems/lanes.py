"""The PCIe lane budget of a build: which device gets how many lanes, and what that costs.

A CPU has a fixed number of PCIe lanes. Each GPU wants 16, a network card 8 or 16.
When the lanes run out, a motherboard splits slots (x16 becomes x8, halving that
GPU's bandwidth), or a PCIe switch puts several GPUs behind one x16 uplink: they keep
full-speed links to each other but share the uplink to the CPU. The 8-bit paper
(https://arxiv.org/abs/1511.04561, section 2.3) measured the effect: about 14 GB/s
with 2 GPUs in a box, about 7 GB/s with more, because slot pairs share a switch.

:func:`lane_budget` allocates lanes and refuses, with the reason, builds that cannot
exist (:class:`BuildError`). Bandwidths are peak figures per direction, in bytes/s.

Used in: :doc:`/notebooks/mgpu_hardware`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.checks import check_choice, check_int
from .hardware import PCIE_SIGNALLING, pcie_bandwidth

__all__ = ["BuildError", "Device", "LaneBudget", "lane_budget", "WIDTHS"]

#: Link widths a PCIe slot or device can run at.
WIDTHS = (1, 2, 4, 8, 16)


class BuildError(ValueError):
    """The build cannot exist; the message says why."""


@dataclass(frozen=True)
class Device:
    """One device in the build.

    Attributes:
        name: e.g. "GPU 0", "NIC 0".
        lanes: the width of its own link.
        switch: index of the PCIe switch it sits behind, or ``None`` (wired to the CPU).
        bandwidth: peak of its own link, bytes/s per direction (device to switch or CPU).
        host_bandwidth_all_busy: its share of the link to the CPU when every GPU
            transfers to or from host memory at once, bytes/s per direction.
    """

    name: str
    lanes: int
    switch: int | None
    bandwidth: float
    host_bandwidth_all_busy: float


@dataclass(frozen=True)
class LaneBudget:
    """The result of :func:`lane_budget`. ``notes`` explain every compromise made."""

    generation: str
    cpu_lanes: int
    lanes_used: int
    devices: tuple[Device, ...]
    notes: tuple[str, ...]

    @property
    def lanes_free(self) -> int:
        """CPU lanes left over."""
        return self.cpu_lanes - self.lanes_used

    @property
    def gpus(self) -> tuple[Device, ...]:
        """The GPUs only."""
        return tuple(d for d in self.devices if d.name.startswith("GPU"))

    def min_gpu_host_bandwidth(self) -> float:
        """Slowest GPU's host bandwidth when all GPUs transfer at once (bytes/s per direction)."""
        return min(d.host_bandwidth_all_busy for d in self.gpus)

    def table(self) -> list[tuple[str, str, str, str]]:
        """Rows (device, link, alone GB/s, all busy GB/s) for printing."""
        rows = []
        for d in self.devices:
            where = "CPU" if d.switch is None else f"switch {d.switch}"
            rows.append((d.name, f"x{d.lanes} to {where}", f"{d.bandwidth / 1e9:.2f}",
                         f"{d.host_bandwidth_all_busy / 1e9:.2f}"))
        return rows


def _check_width(name: str, value: int) -> int:
    value = check_int(name, value, minimum=1, maximum=16)
    if value not in WIDTHS:
        raise ValueError(f"{name} must be one of {WIDTHS}, got {value}")
    return value


def lane_budget(
    cpu_lanes: int,
    n_gpus: int,
    *,
    generation: str = "3.0",
    gpu_lanes: int = 16,
    min_gpu_lanes: int = 8,
    n_nics: int = 0,
    nic_lanes: int = 8,
    slots: int | None = None,
    switches: int = 0,
    gpus_per_switch: int = 2,
    switch_uplink_lanes: int = 16,
) -> LaneBudget:
    """Allocate PCIe lanes to GPUs and network cards, or raise :class:`BuildError`.

    GPUs fill the switches first (``gpus_per_switch`` each, full ``gpu_lanes`` links
    below the switch, one ``switch_uplink_lanes`` uplink per switch to the CPU); the
    rest connect to the CPU directly. NICs always connect to the CPU at ``nic_lanes``.
    If the CPU's lanes do not suffice, directly connected GPUs are narrowed one at a
    time (x16 -> x8 -> x4) down to ``min_gpu_lanes``.

    Args:
        cpu_lanes: PCIe lanes the CPU(s) provide.
        n_gpus: number of GPUs (>= 1).
        generation: PCIe generation, "2.0" ... "6.0".
        gpu_lanes, min_gpu_lanes: preferred and smallest acceptable GPU link width.
        n_nics, nic_lanes: network cards and their width.
        slots: physical slots on the board (``None``: no limit); each GPU and NIC takes one.
        switches, gpus_per_switch, switch_uplink_lanes: PCIe switches on the board.

    Raises:
        BuildError: the build cannot exist (too few lanes or slots); the message says why.
        ValueError, TypeError: an argument is out of range.
    """
    check_choice("generation", generation, tuple(PCIE_SIGNALLING))
    cpu_lanes = check_int("cpu_lanes", cpu_lanes, minimum=1)
    n_gpus = check_int("n_gpus", n_gpus, minimum=1)
    gpu_lanes = _check_width("gpu_lanes", gpu_lanes)
    min_gpu_lanes = _check_width("min_gpu_lanes", min_gpu_lanes)
    if min_gpu_lanes > gpu_lanes:
        raise ValueError(f"min_gpu_lanes must be <= gpu_lanes ({gpu_lanes}), got {min_gpu_lanes}")
    n_nics = check_int("n_nics", n_nics, minimum=0)
    nic_lanes = _check_width("nic_lanes", nic_lanes)
    switches = check_int("switches", switches, minimum=0)
    gpus_per_switch = check_int("gpus_per_switch", gpus_per_switch, minimum=1)
    switch_uplink_lanes = _check_width("switch_uplink_lanes", switch_uplink_lanes)
    if slots is not None:
        slots = check_int("slots", slots, minimum=1)
        if n_gpus + n_nics > slots:
            raise BuildError(
                f"impossible build: {n_gpus} GPUs and {n_nics} NICs need {n_gpus + n_nics} "
                f"slots, the board has {slots}")

    notes: list[str] = []
    on_switch = min(n_gpus, switches * gpus_per_switch)
    used_switches = -(-on_switch // gpus_per_switch) if on_switch else 0
    if used_switches < switches:
        notes.append(f"{switches - used_switches} switch(es) carry no GPU")
    direct = n_gpus - on_switch
    fixed = used_switches * switch_uplink_lanes + n_nics * nic_lanes
    widths = [gpu_lanes] * direct
    while fixed + sum(widths) > cpu_lanes:
        widest = max(range(direct), key=lambda i: (widths[i], i), default=None)
        if widest is None or widths[widest] <= min_gpu_lanes:
            need = fixed + direct * min_gpu_lanes
            parts = []
            if direct:
                parts.append(f"{direct} directly connected GPU(s) at x{min_gpu_lanes} "
                             "(min_gpu_lanes)")
            if used_switches:
                parts.append(f"{used_switches} switch uplink(s) at x{switch_uplink_lanes}")
            if n_nics:
                parts.append(f"{n_nics} NIC(s) at x{nic_lanes}")
            raise BuildError(
                f"impossible build: {' plus '.join(parts)} need {need} PCIe lanes, "
                f"the CPU provides {cpu_lanes}")
        widths[widest] //= 2
    narrowed = sum(w < gpu_lanes for w in widths)
    if narrowed:
        notes.append(f"{narrowed} GPU(s) narrowed from x{gpu_lanes} to fit {cpu_lanes} CPU lanes")

    uplink = pcie_bandwidth(generation, switch_uplink_lanes)
    devices = []
    for k in range(on_switch):
        sw = k // gpus_per_switch
        sharing = min(gpus_per_switch, on_switch - sw * gpus_per_switch)
        own = pcie_bandwidth(generation, gpu_lanes)
        devices.append(Device(f"GPU {k}", gpu_lanes, sw, own, min(own, uplink / sharing)))
    for j, w in enumerate(widths):
        bw = pcie_bandwidth(generation, w)
        devices.append(Device(f"GPU {on_switch + j}", w, None, bw, bw))
    for j in range(n_nics):
        bw = pcie_bandwidth(generation, nic_lanes)
        devices.append(Device(f"NIC {j}", nic_lanes, None, bw, bw))
    if used_switches and gpus_per_switch > 1:
        notes.append(
            f"GPUs behind one switch share its x{switch_uplink_lanes} uplink to the CPU; "
            "between themselves they keep full-width links")
    return LaneBudget(
        generation=generation,
        cpu_lanes=cpu_lanes,
        lanes_used=fixed + sum(widths),
        devices=tuple(devices),
        notes=tuple(notes),
    )
