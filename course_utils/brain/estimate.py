"""The brain-compute estimate of Dettmers (2015) and the singularity timeline.

Dettmers' post "The Brain vs Deep Learning Part I" (http://timdettmers.com/2015/07/27/
brain-vs-deep-learning-singularity/) models cerebellar granule and Purkinje cells as
small conv nets and arrives at 1.075e21 FLOP/s, then asks when supercomputers reach it.
The post's worked arithmetic is an image that could not be recovered;
:func:`dettmers_estimate` implements two reconstructions, H1 and H2, of its chain from
the quantities the post states. H1 reproduces 1.075e21; H2 gives 1.0e21.
Both are reconstructions, not the post's own chain.

Chapter 5, ``notebooks/brain_estimate``. Contents: the post's published figures, the
model parameters (:data:`PARAMETERS`, each with unit and source),
:func:`dettmers_estimate` and :func:`sensitivity` (tornado bars). The timeline is in
:mod:`course_utils.brain.timeline`. All rates are in FLOP/s.

Used in: :doc:`/notebooks/brain_estimate`, :doc:`/notebooks/brain_timeline`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ..core.checks import check_number

__all__ = [
    "POST_URL", "POST_ESTIMATE_FLOPS", "TIANHE2_HPCG_FLOPS", "POST_YEAR", "POST_TIMELINE",
    "Parameter", "PARAMETERS", "DEFAULTS", "BrainEstimate", "dettmers_estimate",
    "reconstructions", "matches_post", "steps_at_frame_rate", "SensitivityBar", "sensitivity",
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
#: counted from 2016 reproduces it (our inference).
POST_TIMELINE = MappingProxyType({1.0: 2037, 1.8: 2053, 3.0: 2078})

_AZEVEDO = "https://doi.org/10.1002/cne.21974"
AI_IMPACTS_URL = "https://aiimpacts.org/brain-performance-in-flops/"
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
              "reconstruction H2 (this course; the post's own chain is not recovered)"),
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
    if not isinstance(est, BrainEstimate):
        raise TypeError(f"est must be a BrainEstimate (from dettmers_estimate), got "
                        f"{type(est).__name__}")
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
    elif isinstance(names, str):
        raise TypeError(f"names must be a sequence of parameter names, got the string {names!r}")
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
