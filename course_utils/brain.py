"""The brain-compute estimate of Dettmers (2015) and the singularity timeline.

Dettmers' post "The Brain vs Deep Learning Part I" (http://timdettmers.com/2015/07/27/
brain-vs-deep-learning-singularity/) models cerebellar granule and Purkinje cells as
small conv nets and arrives at 1.075e21 FLOP/s, then asks when supercomputers reach it.
The post's worked arithmetic is an image we do not have; :func:`dettmers_estimate`
implements the two reconstructions H1 and H2 of the course reference
(``brain-vs-deep-learning.md`` section 3.4). H1 reproduces 1.075e21; H2 gives 1.0e21.
Both are reconstructions, not the post's own chain.

Contents: the model parameters (:data:`PARAMETERS`, each with unit and source),
:func:`dettmers_estimate`, :func:`sensitivity` (tornado bars), the timeline helpers
:func:`doublings_needed` and :func:`year_reached`, other published estimates
(:data:`OTHER_ESTIMATES`), the TOP500 #1 history (:func:`load_top500`) and
doubling-time fits (:func:`fit_doubling_time`, built on
:func:`course_utils.hardware.growth`). All rates are in FLOP/s.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from .hardware import Growth, growth
from .validate import check_choice, check_int, check_number

__all__ = [
    "POST_URL", "POST_ESTIMATE_FLOPS", "TIANHE2_HPCG_FLOPS", "POST_YEAR", "POST_TIMELINE",
    "Parameter", "PARAMETERS", "DEFAULTS", "BrainEstimate", "dettmers_estimate",
    "reconstructions", "matches_post", "steps_at_frame_rate", "SensitivityBar", "sensitivity",
    "doublings_needed", "year_reached", "kurzweil_cps", "mips_to_flops",
    "landauer_bits_per_s", "knowledge_fraction", "price_per_kwh", "OtherEstimate",
    "OTHER_ESTIMATES", "Top500Entry", "load_top500", "fit_doubling_time",
]

# --- Published figures (one place, with sources) -------------------------------------

POST_URL = "http://timdettmers.com/2015/07/27/brain-vs-deep-learning-singularity/"
#: The post's result, "1.075x10^21 FLOPS", a lower bound (POST_URL).
POST_ESTIMATE_FLOPS = 1.075e21
#: Tianhe-2 on HPCG, "0.58x10^15 FLOPS", the post's practical starting point (POST_URL).
TIANHE2_HPCG_FLOPS = 0.58e15
#: Year the post was written (27 July 2015); its timeline counts from here.
POST_YEAR = 2015
#: The post's years, keyed by the doubling time (years) they follow from (POST_URL).
#: 1.8 y ("60-year trend") -> 2053 and 3 y (network bandwidth) -> 2078 are stated with
#: their periods; for "Moore's law" -> 2037 the period is not stated: 1 year per doubling
#: counted from 2016 reproduces it (our inference, see the reference section 4.2).
POST_TIMELINE = MappingProxyType({1.0: 2037, 1.8: 2053, 3.0: 2078})

_AZEVEDO = "https://doi.org/10.1002/cne.21974"
_AII = "https://aiimpacts.org/brain-performance-in-flops/"
_ILLUSTRATIVE = "illustrative: half to double the default (no published range)"


# --- Model parameters -----------------------------------------------------------------

@dataclass(frozen=True)
class Parameter:
    """One input of the estimate: default, unit, meaning, source and a plausible range."""

    name: str
    default: float
    unit: str
    meaning: str
    source: str
    low: float | None = None
    high: float | None = None
    range_source: str = ""


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("time_steps", 5, "steps",
              "time steps T the filters span (80-200 ms of recognition at 30 frames/s "
              "= 2.4-6 steps; the post fixes T = 5)", POST_URL,
              2.4, 6.0, "80 and 200 ms at 30 frames/s (post)"),
    Parameter("granule_dendrites", 4, "dendrites/cell", "dendrites of a granule cell",
              POST_URL, 2, 8, _ILLUSTRATIVE),
    Parameter("granule_branches", 3, "branches/dendrite",
              "branches per granule dendrite (filter height)", POST_URL, 1.5, 6, _ILLUSTRATIVE),
    Parameter("granule_inputs", 15, "inputs/cell",
              "inputs of a granule cell (about 4 axons x 3-4 synapses)", POST_URL,
              12, 16, "4 axons x 3 or 4 synapses (post)"),
    Parameter("purkinje_dendrites", 1000, "dendrites/cell", "dendrites of a Purkinje cell",
              POST_URL, 500, 2000, _ILLUSTRATIVE),
    Parameter("purkinje_branches", 10, "branches/dendrite",
              "branches per Purkinje dendrite (filter height, 'about 10')", POST_URL,
              5, 20, _ILLUSTRATIVE),
    Parameter("purkinje_inputs", 100_000, "inputs/cell",
              "inputs of a Purkinje cell ('more than 100000' synapses)", POST_URL,
              75_000, 200_000, "75,000, which the post calls too conservative; "
              "upper end illustrative (2x)"),
    Parameter("neurons", 86e9, "neurons", "neurons in the adult human brain", POST_URL,
              78.0e9, 94.2e9, f"86.1 +- 8.1 billion, Azevedo et al. 2009 ({_AZEVEDO})"),
    Parameter("granule_cells", 50e9, "cells", "cerebellar granule cells ('50 of the 86 "
              "billion'); used by H2 and the synapse check", POST_URL),
    Parameter("purkinje_cells", 1e8, "cells", "Purkinje cells (about 100 million); used by H2",
              POST_URL),
    Parameter("granule_outputs", 100, "synapses/cell",
              "synapses of a granule cell onto Purkinje dendrites; used by the synapse check",
              POST_URL),
    Parameter("h2_flops_per_mac", 2, "FLOP/multiply-add",
              "H2 only: FLOP per multiply-add (the reconstruction's assumption, not the post's)",
              "reference section 3.4 (H2)"),
    Parameter("h2_rate_hz", 200, "1/s", "H2 only: filter evaluations per second (the ~200 "
              "action potentials/s of the Kurzweil-style model the post discusses)", POST_URL),
)

#: Default value of every parameter, by name.
DEFAULTS: Mapping[str, float] = MappingProxyType({p.name: p.default for p in PARAMETERS})
_BY_NAME = {p.name: p for p in PARAMETERS}


def _resolve(overrides: Mapping[str, object]) -> dict[str, float]:
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown parameter(s) {unknown}; accepted: {sorted(DEFAULTS)}")
    values = dict(DEFAULTS)
    for name, value in overrides.items():
        values[name] = check_number(name, value, minimum=0.0, strict_minimum=True)
    return values


@dataclass(frozen=True)
class BrainEstimate:
    """Every step of the estimate. Rates in FLOP/s; sizes in values (steps x units).

    ``flops`` is reconstruction H1 (the one that reproduces the post's 1.075e21).
    The "cost" of a cell is its input size times its filter size, the product the
    reconstructions use; the post does not say how it counts operations.
    """

    inputs: Mapping[str, float]
    granule_filter: tuple[float, float, float]  # branches x dendrites x time steps
    granule_input: tuple[float, float]  # inputs x time steps
    purkinje_filter: tuple[float, float, float]
    purkinje_input: tuple[float, float]
    granule_filter_taps: float
    granule_input_values: float
    granule_cost: float
    purkinje_filter_taps: float
    purkinje_input_values: float
    purkinje_cost: float
    mean_cost: float  # (granule_cost + purkinje_cost) / 2
    h1_flops: float  # mean_cost x neurons
    h2_flops: float  # purkinje_cost x purkinje_cells x FLOP/MAC x rate
    h2_granule_flops: float  # what adding granule cells to H2 adds
    granule_to_purkinje_synapses: float  # granule_cells x granule_outputs
    purkinje_input_synapses: float  # purkinje_cells x purkinje_inputs
    flops: float  # = h1_flops


def dettmers_estimate(**overrides: float) -> BrainEstimate:
    """The post's estimate with every intermediate; pass ``name=value`` to change inputs.

    Names and units: :data:`PARAMETERS`. Each value must be a number > 0. Unknown names
    raise ``TypeError``. ``.flops`` (FLOP/s) is reconstruction H1.
    """
    v = _resolve(overrides)
    t = v["time_steps"]
    g_filter = (v["granule_branches"], v["granule_dendrites"], t)
    p_filter = (v["purkinje_branches"], v["purkinje_dendrites"], t)
    g_input = (v["granule_inputs"], t)
    p_input = (v["purkinje_inputs"], t)
    g_taps, p_taps = math.prod(g_filter), math.prod(p_filter)
    g_vals, p_vals = math.prod(g_input), math.prod(p_input)
    g_cost, p_cost = g_vals * g_taps, p_vals * p_taps
    mean_cost = (g_cost + p_cost) / 2
    per_second = v["h2_flops_per_mac"] * v["h2_rate_hz"]
    h1 = mean_cost * v["neurons"]
    return BrainEstimate(
        inputs=MappingProxyType(v),
        granule_filter=g_filter, granule_input=g_input,
        purkinje_filter=p_filter, purkinje_input=p_input,
        granule_filter_taps=g_taps, granule_input_values=g_vals, granule_cost=g_cost,
        purkinje_filter_taps=p_taps, purkinje_input_values=p_vals, purkinje_cost=p_cost,
        mean_cost=mean_cost,
        h1_flops=h1,
        h2_flops=p_cost * v["purkinje_cells"] * per_second,
        h2_granule_flops=g_cost * v["granule_cells"] * per_second,
        granule_to_purkinje_synapses=v["granule_cells"] * v["granule_outputs"],
        purkinje_input_synapses=v["purkinje_cells"] * v["purkinje_inputs"],
        flops=h1,
    )


def reconstructions(est: BrainEstimate) -> dict[str, float]:
    """The reconstructions' totals (FLOP/s), by label, for one :class:`BrainEstimate`."""
    return {
        "H1: mean(granule, Purkinje) cost x all neurons": est.h1_flops,
        "H2: Purkinje only, 2 FLOP/MAC, 200 Hz": est.h2_flops,
        "H2 + granule cells": est.h2_flops + est.h2_granule_flops,
    }


def matches_post(flops: float, *, published: float = POST_ESTIMATE_FLOPS) -> bool:
    """True if ``flops`` equals ``published`` to the 4 significant digits the post prints."""
    flops = check_number("flops", flops, minimum=0.0)
    published = check_number("published", published, minimum=0.0, strict_minimum=True)
    return f"{flops:.3e}" == f"{published:.3e}"


def steps_at_frame_rate(duration_s: float, frame_rate_hz: float = 30.0) -> float:
    """Time steps (frames) in ``duration_s`` seconds at ``frame_rate_hz`` frames/s."""
    duration_s = check_number("duration_s", duration_s, minimum=0.0)
    frame_rate_hz = check_number("frame_rate_hz", frame_rate_hz, minimum=0.0,
                                 strict_minimum=True)
    return duration_s * frame_rate_hz


# --- Sensitivity (tornado) ------------------------------------------------------------

@dataclass(frozen=True)
class SensitivityBar:
    """The estimate (FLOP/s) with one parameter at the low and at the high end of its range."""

    name: str
    unit: str
    low: float
    high: float
    flops_low: float
    flops_high: float
    range_source: str

    @property
    def swing_decades(self) -> float:
        """Width of the bar in powers of ten: ``abs(log10(flops_high / flops_low))``."""
        return abs(math.log10(self.flops_high / self.flops_low))


def sensitivity(names: Sequence[str] | None = None) -> list[SensitivityBar]:
    """Tornado bars for H1: vary each parameter over its range, the others at default.

    ``names`` defaults to every parameter with a range. Sorted widest bar first.
    """
    ranged = [p.name for p in PARAMETERS if p.low is not None]
    if names is None:
        names = ranged
    bars = []
    for name in names:
        if name not in ranged:
            raise ValueError(f"names must hold parameters with a range {ranged}, got {name!r}")
        p = _BY_NAME[name]
        bars.append(SensitivityBar(
            name, p.unit, p.low, p.high,
            dettmers_estimate(**{name: p.low}).flops, dettmers_estimate(**{name: p.high}).flops,
            p.range_source))
    return sorted(bars, key=lambda b: b.swing_decades, reverse=True)


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
    year: int | None  # None where the course reference gives no year
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


#: Published estimates with their sources (reference section 6), by author, oldest first.
OTHER_ESTIMATES: tuple[OtherEstimate, ...] = (
    _point("Moravec", 1998, "retina (1,000 MIPS) x 100,000, MIPS -> FLOP/s", _MORAVEC_FLOPS,
           "https://www.jetpress.org/volume1/moravec.htm " + _AII),
    _point("Kurzweil", 2001, "1e11 neurons x 1e3 connections x 200/s", kurzweil_cps(),
           _KURZWEIL + " https://www.kurzweilai.net/the-law-of-accelerating-returns"),
    _point("Kurzweil", 2005, "The Singularity Is Near: simulation", 1e16, _AII),
    OtherEstimate("Kurzweil", 2005, "The Singularity Is Near: functional regions",
                  1e14, 1e15, _AII),
    _point("Sandberg & Bostrom", 2008, "analog network population", 1e15, _SB + " " + _AII),
    _point("Sandberg & Bostrom", 2008, "spiking neural network", 1e18, _SB + " " + _AII),
    _point("Sandberg & Bostrom", 2008, "electrophysiology", 1e22, _SB + " " + _AII),
    _point("Sandberg & Bostrom", 2008, "metabolome", 1e25, _SB + " " + _AII),
    _point("Markram (Human Brain Project)", None, "full simulation: at least 1 exaFLOP/s",
           1e18, "https://cacm.acm.org/news/164486-thought-experiment-build-a-supercomputer-"
           "replica-of-the-human-brain/"),
    _point("Dettmers", 2015, "granule + Purkinje conv-net model (a lower bound)",
           POST_ESTIMATE_FLOPS, POST_URL, "stated"),
    OtherEstimate("AI Impacts", None, "range of 5 published estimates (median 1e18)",
                  3e13, 1e25, _AII),
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
    """The bundled TOP500 history (``course_utils/data/top500_top1.csv``): every #1 in the
    course reference plus a few peers; each row cites its sources."""
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
