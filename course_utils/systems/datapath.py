"""The path of one gradient message from a GPU in one computer to a GPU in another.

Without GPUDirect RDMA most network cards can only read CPU memory, so a message goes

    GPU1 -> (PCIe) -> CPU1 memory -> NIC1 -> (network) -> NIC2 -> CPU2 memory -> (PCIe) -> GPU2

and each step waits for the previous one (store and forward). With GPUDirect RDMA the
network card reads GPU memory over PCIe itself and the remote card writes into GPU
memory: one stream, as fast as the slowest link on the way (Dettmers 2014, "How To
Build and Use a Multi GPU System for Deep Learning"). Inside one computer NVLink
connects GPUs directly.

A route is a list of :class:`Stage` objects (a bandwidth and a latency each); a
:class:`Timeline` says when each stage of each chunk starts and ends. With one chunk
the stages run one after the other; with several chunks they overlap (a pipeline).
Units: bytes, seconds, bytes/s per direction.

Used in: :doc:`/notebooks/mgpu_hardware`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.alphabeta import message_time
from ..core.checks import check_int, check_number
from .hardware import link

__all__ = ["Stage", "Segment", "Timeline", "timeline", "staged_route", "rdma_route",
           "direct_route", "HOST_COPY_LABEL"]

HOST_COPY_LABEL = "host copy (pinned buffer -> NIC buffer)"


@dataclass(frozen=True)
class Stage:
    """One step of a route: ``bandwidth`` in bytes/s, ``latency`` (alpha) in seconds."""

    label: str
    bandwidth: float
    latency: float = 0.0

    def __post_init__(self) -> None:
        check_number("bandwidth", self.bandwidth, minimum=0, strict_minimum=True)
        check_number("latency", self.latency, minimum=0)


@dataclass(frozen=True)
class Segment:
    """Stage ``label`` moving chunk ``chunk`` from ``start`` to ``end`` seconds."""

    label: str
    chunk: int
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    """When each stage of each chunk runs. ``total`` is the arrival time in seconds."""

    name: str
    nbytes: int
    segments: tuple[Segment, ...]

    @property
    def total(self) -> float:
        """Seconds from the first byte leaving to the last byte arriving."""
        return max(s.end for s in self.segments)

    @property
    def bandwidth(self) -> float:
        """End-to-end bytes/s: ``nbytes / total``."""
        return self.nbytes / self.total

    def stage_times(self) -> dict[str, float]:
        """Seconds each stage is busy, summed over chunks."""
        out: dict[str, float] = {}
        for s in self.segments:
            out[s.label] = out.get(s.label, 0.0) + (s.end - s.start)
        return out


def timeline(nbytes: int, route: list[Stage], *, chunks: int = 1, name: str = "") -> Timeline:
    """Schedule ``nbytes`` bytes through ``route`` in ``chunks`` equal chunks.

    Chunk i enters stage j when it has left stage j-1 and chunk i-1 has left stage j.
    Each stage costs the alpha-beta time ``latency + chunk_bytes / bandwidth``
    (:func:`course_utils.parallel.costs.message_time`) per chunk.

    Args:
        nbytes: message size in bytes (>= 1).
        route: the stages, in order (at least one).
        chunks: how many pieces the message is cut into (1 = store and forward).
    """
    nbytes = check_int("nbytes", nbytes, minimum=1)
    chunks = check_int("chunks", chunks, minimum=1, maximum=nbytes)
    if not route or not all(isinstance(s, Stage) for s in route):
        raise TypeError("route must be a non-empty list of Stage objects")
    sizes = [nbytes // chunks + (1 if i < nbytes % chunks else 0) for i in range(chunks)]
    free_at = [0.0] * len(route)  # when each stage finishes its previous chunk
    segments = []
    for i, size in enumerate(sizes):
        ready = 0.0
        for j, stage in enumerate(route):
            start = max(ready, free_at[j])
            end = start + float(message_time(size, stage.bandwidth, stage.latency))
            segments.append(Segment(stage.label, i, start, end))
            free_at[j] = ready = end
    return Timeline(name=name, nbytes=nbytes, segments=tuple(segments))


def _network_latency(network: str, latency: float | None) -> float:
    if latency is not None:
        return check_number("network_latency", latency, minimum=0)
    return link(network, param="network").latency or link("ib_fdr").latency


def staged_route(
    pcie: str,
    network: str,
    *,
    host_copy_bandwidth: float | None = None,
    network_latency: float | None = None,
) -> list[Stage]:
    """GPU -> CPU -> NIC -> NIC -> CPU -> GPU, each hop a stage.

    Args:
        pcie: the GPUs' and NICs' PCIe link, e.g. ``"pcie3"`` (x16, from the catalogue).
        network: the network link, e.g. ``"ib_fdr"``.
        host_copy_bandwidth: if given (bytes/s), add a host memory copy on each side,
            from the GPU's pinned buffer into the buffer registered with the NIC.
        network_latency: alpha of the network hop in seconds; default the link's
            catalogue latency, else the FDR InfiniBand figure (a stand-in, labelled so
            in the chapter).
    """
    pcie_bw = link(pcie, param="pcie").bandwidth
    link(network, param="network")
    if host_copy_bandwidth is not None:
        check_number("host_copy_bandwidth", host_copy_bandwidth, minimum=0, strict_minimum=True)
    # The NIC reads host memory over its own PCIe slot while it sends: one stage at
    # the slower of the two rates.
    wire = Stage(f"network ({link(network).label})", min(link(network).bandwidth, pcie_bw),
                 _network_latency(network, network_latency))
    route = [Stage(f"GPU1 -> CPU1 ({link(pcie).label})", pcie_bw)]
    if host_copy_bandwidth is not None:
        route.append(Stage(HOST_COPY_LABEL + " 1", host_copy_bandwidth))
    route.append(wire)
    if host_copy_bandwidth is not None:
        route.append(Stage(HOST_COPY_LABEL + " 2", host_copy_bandwidth))
    route.append(Stage(f"CPU2 -> GPU2 ({link(pcie).label})", pcie_bw))
    return route


def rdma_route(pcie: str, network: str, *, network_latency: float | None = None) -> list[Stage]:
    """GPUDirect RDMA: the NIC streams GPU memory to the remote GPU, one stage.

    The stream runs at the slowest of the sending GPU's PCIe link, the network and the
    receiving GPU's PCIe link.
    """
    bw = min(link(pcie, param="pcie").bandwidth, link(network, param="network").bandwidth)
    return [Stage(f"GPUDirect RDMA ({link(network).label} via {link(pcie).label})", bw,
                  _network_latency(network, network_latency))]


def direct_route(link_name: str) -> list[Stage]:
    """GPU to GPU over one link inside a computer (NVLink, or PCIe peer to peer)."""
    lk = link(link_name, param="link_name")
    return [Stage(f"GPU1 -> GPU2 ({lk.label})", lk.bandwidth, lk.latency or 0.0)]
