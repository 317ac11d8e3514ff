"""The singularity timeline: doublings, other published estimates, the TOP500 history.

Chapter 5, ``notebooks/brain_timeline`` (and the comparison table of
``notebooks/brain_estimate``). Contents: the timeline helpers :func:`doublings_needed`
and :func:`year_reached`, other published estimates of the brain's compute
(:data:`OTHER_ESTIMATES`), the TOP500 #1 history (:func:`load_top500`) and doubling-time
fits (:func:`fit_doubling_time`, built on :func:`course_utils.systems.hardware.growth`),
and the history figure (:func:`history_figure`): TOP500 #1 systems beside the AI
training clusters of :mod:`course_utils.brain.ai_compute` and the brain estimate.
All rates are in FLOP/s.

Used in: :doc:`/notebooks/brain_timeline`, :doc:`/notebooks/brain_estimate`,
:doc:`/notebooks/brain_then_now`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from ..core.checks import check_choice, check_int, check_number
from ..systems.hardware import Growth, growth
from .ai_compute import AICluster, load_ai_clusters
from .estimate import AI_IMPACTS_URL, POST_ESTIMATE_FLOPS, POST_URL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "doublings_needed", "year_reached", "kurzweil_cps", "mips_to_flops",
    "landauer_bits_per_s", "knowledge_fraction", "price_per_kwh", "OtherEstimate",
    "OTHER_ESTIMATES", "Top500Entry", "load_top500", "fit_doubling_time", "history_figure",
]


# --- Timeline -------------------------------------------------------------------------

def doublings_needed(target: float, current: float, *, whole: bool = True) -> float:
    """Doublings to grow ``current`` to ``target`` (both FLOP/s): log2(target / current).

    ``whole=True`` rounds up to an integer, as the post does (20.8 -> 21). 0 if
    ``current`` already reaches ``target``.
    """
    target = check_number("target", target, minimum=0.0, strict_minimum=True)
    current = check_number("current", current, minimum=0.0, strict_minimum=True)
    n = max(0.0, math.log2(target / current))
    return math.ceil(n - 1e-12) if whole else n


def year_reached(target: float, current: float, start_year: float, doubling_years: float,
                 *, whole: bool = True) -> float:
    """Year in which ``current`` FLOP/s at ``start_year``, doubling every ``doubling_years``
    years, reaches ``target`` FLOP/s: start_year + doublings x doubling_years.

    ``whole=True`` counts whole doublings, as the post does.
    """
    start_year = check_number("start_year", start_year)
    doubling_years = check_number("doubling_years", doubling_years, minimum=0.0,
                                  strict_minimum=True)
    return start_year + doublings_needed(target, current, whole=whole) * doubling_years


# --- Other published estimates --------------------------------------------------------

def kurzweil_cps(neurons: float = 1e11, connections: float = 1e3,
                 calcs_per_s: float = 200.0) -> float:
    """Kurzweil's (2001) brain estimate in calculations/s: neurons x connections x rate."""
    return (check_number("neurons", neurons, minimum=0.0)
            * check_number("connections", connections, minimum=0.0)
            * check_number("calcs_per_s", calcs_per_s, minimum=0.0))


def mips_to_flops(mips: float) -> float:
    """FLOP/s from MIPS with the conversion AI Impacts uses: MFLOPS = 2.3 x MIPS^0.89."""
    mips = check_number("mips", mips, minimum=0.0)
    return 2.3 * mips**0.89 * 1e6


def landauer_bits_per_s(power_w: float = 20.0, temperature_k: float = 310.0) -> float:
    """Most bit erasures per second ``power_w`` watts allow at ``temperature_k`` kelvin
    (Landauer: kT ln 2 joules per bit; k = 1.380649e-23 J/K, exact since 2019)."""
    power_w = check_number("power_w", power_w, minimum=0.0)
    temperature_k = check_number("temperature_k", temperature_k, minimum=0.0,
                                 strict_minimum=True)
    return power_w / (1.380649e-23 * temperature_k * math.log(2))


def knowledge_fraction(years: float, doubling_years: float = 1.0) -> float:
    """Fraction of today's knowledge that existed ``years`` ago if it doubles every
    ``doubling_years`` years: 2^(-years / doubling_years) (the post's 0.098% for 10 years)."""
    years = check_number("years", years, minimum=0.0)
    doubling_years = check_number("doubling_years", doubling_years, minimum=0.0,
                                  strict_minimum=True)
    return 2.0 ** (-years / doubling_years)


def price_per_kwh(power_w: float, dollars_per_day: float) -> float:
    """Electricity price ($/kWh) implied by running ``power_w`` watts for a day at
    ``dollars_per_day`` dollars."""
    power_w = check_number("power_w", power_w, minimum=0.0, strict_minimum=True)
    dollars_per_day = check_number("dollars_per_day", dollars_per_day, minimum=0.0)
    return dollars_per_day / (power_w * 24 / 1000)


@dataclass(frozen=True)
class OtherEstimate:
    """A published brain-compute estimate or range, in FLOP/s (or cps, taken as FLOP/s)."""

    author: str
    year: int | None  # None where the source gives no year
    method: str
    low: float
    high: float
    source: str
    tag: str = "external"

    @property
    def central(self) -> float:
        """Geometric mean of ``low`` and ``high`` (FLOP/s); the value itself for a point."""
        return math.sqrt(self.low * self.high)


_KURZWEIL = "http://own-the-internet.com/Quotes/the-human-brain/"
_SB = "https://www.fhi.ox.ac.uk/reports/2008-3.pdf"
_CARLSMITH = "https://forum.effectivealtruism.org/posts/nGQJEYp5X2pCbeweg/"
_MORAVEC_FLOPS = mips_to_flops(1e8)  # 1,000 MIPS retina x 100,000 = 1e8 MIPS


def _point(author: str, year: int | None, method: str, value: float, source: str,
           tag: str = "external") -> OtherEstimate:
    return OtherEstimate(author, year, method, value, value, source, tag)


#: Published estimates with their sources by author, oldest first.
OTHER_ESTIMATES: tuple[OtherEstimate, ...] = (
    _point("Moravec", 1998, "retina (1,000 MIPS) x 100,000, MIPS -> FLOP/s", _MORAVEC_FLOPS,
           "https://www.jetpress.org/volume1/moravec.htm " + AI_IMPACTS_URL),
    _point("Kurzweil", 2001, "1e11 neurons x 1e3 connections x 200/s", kurzweil_cps(),
           _KURZWEIL + " https://www.kurzweilai.net/the-law-of-accelerating-returns"),
    _point("Kurzweil", 2005, "The Singularity Is Near: simulation", 1e16, AI_IMPACTS_URL),
    OtherEstimate("Kurzweil", 2005, "The Singularity Is Near: functional regions",
                  1e14, 1e15, AI_IMPACTS_URL),
    _point("Sandberg & Bostrom", 2008, "analog network population", 1e15,
           _SB + " " + AI_IMPACTS_URL),
    _point("Sandberg & Bostrom", 2008, "spiking neural network", 1e18, _SB + " " + AI_IMPACTS_URL),
    _point("Sandberg & Bostrom", 2008, "electrophysiology", 1e22, _SB + " " + AI_IMPACTS_URL),
    _point("Sandberg & Bostrom", 2008, "metabolome", 1e25, _SB + " " + AI_IMPACTS_URL),
    _point("Markram (Human Brain Project)", None, "full simulation: at least 1 exaFLOP/s",
           1e18, "https://cacm.acm.org/news/164486-thought-experiment-build-a-supercomputer-"
           "replica-of-the-human-brain/"),
    _point("Dettmers", 2015, "granule + Purkinje conv-net model (a lower bound)",
           POST_ESTIMATE_FLOPS, POST_URL, "stated"),
    OtherEstimate("AI Impacts", None, "range of 5 published estimates (median 1e18)",
                  3e13, 1e25, AI_IMPACTS_URL),
    OtherEstimate("AI Impacts", None, "from traversed edges per second (TEPS)", 1e16, 3e17,
                  "https://aiimpacts.org/brain-performance-in-teps/"),
    _point("Carlsmith", 2020, "more likely than not enough (under 10% above 1e21)", 1e15,
           "https://www.openphilanthropy.org/research/new-report-on-how-much-computational-"
           "power-it-takes-to-match-the-human-brain/"),
    OtherEstimate("Carlsmith", 2020, "mechanistic method", 1e13, 1e17, _CARLSMITH),
    OtherEstimate("Carlsmith", 2020, "functional: retina scaled (Moravec-style)", 1e12, 1e15,
                  _CARLSMITH),
    OtherEstimate("Carlsmith", 2020, "functional: DNN retina model scaled", 1e16, 1e20,
                  _CARLSMITH),
    OtherEstimate("Carlsmith", 2020, "functional: visual cortex vs EfficientNet-B2",
                  1e13, 3e17, _CARLSMITH),
)


# --- TOP500 ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Top500Entry:
    """One system on one TOP500 list. Rates in FLOP/s, power in W, ``year`` decimal."""

    list_date: str  # "YYYY-MM"
    year: float
    rank: int
    system: str
    rmax: float  # LINPACK (HPL)
    rpeak: float | None
    hpcg: float | None
    power_w: float | None
    provenance: str
    sources: tuple[str, ...]
    note: str


def _optional(text: str, scale: float) -> float | None:
    return float(text) * scale if text.strip() else None


def load_top500() -> tuple[Top500Entry, ...]:
    """The bundled TOP500 history (``course_utils/data/top500_top1.csv``): every #1 the
    course discusses plus a few peers; each row cites its sources."""
    text = resources.files("course_utils").joinpath("data/top500_top1.csv").read_text("utf-8")
    rows = []
    for r in csv.DictReader(text.splitlines()):
        yy, mm = (int(x) for x in r["list"].split("-"))
        rows.append(Top500Entry(
            list_date=r["list"], year=yy + (mm - 1) / 12, rank=int(r["rank"]),
            system=r["system"], rmax=float(r["rmax_pflops"]) * 1e15,
            rpeak=_optional(r["rpeak_pflops"], 1e15), hpcg=_optional(r["hpcg_pflops"], 1e15),
            power_w=_optional(r["power_mw"], 1e6), provenance=r["provenance"],
            sources=tuple(r["source"].split()), note=r["note"]))
    return tuple(rows)


def fit_doubling_time(entries: Iterable[Top500Entry], *, first_year: float = -math.inf,
                      last_year: float = math.inf, rank: int = 1,
                      metric: str = "rmax") -> Growth:
    """Doubling time of ``metric`` (FLOP/s) over the rank-``rank`` entries with
    ``first_year <= year <= last_year``: a least-squares fit of log2(metric) against the
    year (:func:`course_utils.hardware.growth`). Needs two distinct years."""
    rank = check_int("rank", rank, minimum=1)
    metric = check_choice("metric", metric, ("rmax", "rpeak", "hpcg"))
    pts = [(e.year, getattr(e, metric)) for e in entries
           if e.rank == rank and first_year <= e.year <= last_year
           and getattr(e, metric) is not None]
    if len({y for y, _ in pts}) < 2:
        raise ValueError(f"need entries from two different years between first_year="
                         f"{first_year} and last_year={last_year}, got {len(pts)} point(s)")
    return growth([y for y, _ in pts], [v for _, v in pts])


#: Legend label of the AI-cluster series in :func:`history_figure` (tests look for it).
AI_CLUSTER_LABEL = "AI training clusters, dense BF16 peak (GPUs x catalogue peak)"
_LABELLED = ("1993-06", "2013-06", "2018-06", "2020-06", "2022-06", "2026-06")


def history_figure(rows: Iterable[Top500Entry] | None = None,
                   clusters: Iterable[AICluster] | None = None, *,
                   fits: Iterable[tuple[str, Growth, tuple[float, float]]] = (),
                   estimate: float = POST_ESTIMATE_FLOPS) -> Figure:
    """Log-scale figure (matplotlib) of the TOP500 history beside AI training clusters.

    Series: TOP500 #1 LINPACK Rmax (FP64), ranks 2-5, HPCG of the #1, the AI clusters'
    dense BF16 peak (:data:`AI_CLUSTER_LABEL`), each ``(label, fit, (first, last year))``
    in ``fits`` as a line, and ``estimate`` FLOP/s as a dashed line. ``rows`` and
    ``clusters`` default to the bundled tables. Returns the figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    estimate = check_number("estimate", estimate, minimum=0.0, strict_minimum=True)
    rows = load_top500() if rows is None else tuple(rows)
    clusters = load_ai_clusters() if clusters is None else tuple(clusters)
    fits = tuple(fits)
    for _, fit, _ in fits:
        if not isinstance(fit, Growth):
            raise TypeError(f"fits must hold (label, Growth, (year, year)), got "
                            f"{type(fit).__name__}")
    fig, ax = plt.subplots(figsize=(10.5, 5))
    top = [r for r in rows if r.rank == 1]
    ax.semilogy([r.year for r in top], [r.rmax for r in top], "o", color="C0",
                label="TOP500 #1, LINPACK Rmax (FP64)")
    peers = [r for r in rows if r.rank > 1]
    if peers:
        ax.semilogy([r.year for r in peers], [r.rmax for r in peers], ".", color="0.6",
                    label="TOP500 ranks 2-5 (some lists)")
    hp = [r for r in rows if r.hpcg]
    if hp:
        ax.semilogy([r.year for r in hp], [r.hpcg for r in hp], "s", color="C3",
                    label="HPCG of the #1 system")
    for i, (name, fit, (y0, y1)) in enumerate(fits):
        yrs = np.array([y0, y1], dtype=float)
        ax.semilogy(yrs, fit.predict(yrs), "-", color=f"C{i + 1}",
                    label=f"{name}: doubling every {fit.doubling_years * 12:.1f} months")
    if clusters:
        ax.semilogy([c.year for c in clusters], [c.peak_bf16 for c in clusters], "D",
                    color="C4", label=AI_CLUSTER_LABEL)
        for c in clusters:
            ax.annotate(c.name.split(" (")[0], (c.year, c.peak_bf16),
                        textcoords="offset points", xytext=(-6, 7), fontsize=7,
                        color="C4", ha="right")
    ax.axhline(estimate, color="k", lw=1, ls="--",
               label=f"Dettmers' brain estimate, {estimate:.4g} FLOP/s")
    for r in top:
        if r.list_date in _LABELLED:
            ax.annotate(r.system, (r.year, r.rmax), textcoords="offset points",
                        xytext=(4, -11), fontsize=8)
    ax.set_xlabel("year")
    ax.set_ylabel("FLOP/s (TOP500: FP64; AI clusters: BF16 peak)")
    ax.set_title("Fastest supercomputers and AI training clusters against the brain estimate")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no overlap
    fig.tight_layout()
    return fig
