"""course_utils.brain.timeline: the singularity timeline, other published estimates and
the TOP500 history, against the course reference
(/work/shared/reference/brain-vs-deep-learning.md, section 8 and sections 4-6)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils import brain
from course_utils.brain import timeline
from course_utils.systems import hardware

# --- the timeline ---------------------------------------------------------------------

def test_21_doublings_from_tianhe2_hpcg():  # fact 7
    exact = brain.doublings_needed(brain.POST_ESTIMATE_FLOPS, brain.TIANHE2_HPCG_FLOPS,
                                   whole=False)
    assert brain.POST_ESTIMATE_FLOPS / brain.TIANHE2_HPCG_FLOPS == pytest.approx(1.853e6,
                                                                                 rel=1e-3)
    assert exact == pytest.approx(20.82, abs=0.01)
    assert brain.doublings_needed(brain.POST_ESTIMATE_FLOPS, brain.TIANHE2_HPCG_FLOPS) == 21


@pytest.mark.parametrize("start, doubling, year", [(2015, 1.8, 2053), (2015, 3.0, 2078),
                                                   (2016, 1.0, 2037)])
def test_the_posts_years(start, doubling, year):  # fact 8 (2037: inferred start 2016)
    y = brain.year_reached(brain.POST_ESTIMATE_FLOPS, brain.TIANHE2_HPCG_FLOPS, start, doubling)
    assert round(y) == year == brain.POST_TIMELINE[doubling]
    assert y == pytest.approx(start + 21 * doubling)


def test_timeline_edge_cases():
    assert brain.doublings_needed(8.0, 1.0) == 3  # exact powers of two do not round up
    assert brain.doublings_needed(1.0, 2.0) == 0
    assert brain.year_reached(1.0, 2.0, 2020, 2.0) == 2020
    assert brain.year_reached(3.0, 1.0, 2000, 1.0, whole=False) == pytest.approx(
        2000 + math.log2(3))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: brain.year_reached(1e21, 1e15, 2015, 0), ValueError, "doubling_years must be > 0"),
    (lambda: brain.year_reached(1e21, 1e15, 2015, -1.8), ValueError, "doubling_years"),
    (lambda: brain.doublings_needed(1e21, 0), ValueError, "current must be > 0"),
    (lambda: brain.doublings_needed(-1, 1e15), ValueError, "target must be > 0"),
    (lambda: brain.year_reached(1e21, 1e15, "2015", 1.8), TypeError, "start_year"),
    (lambda: brain.mips_to_flops(-1), ValueError, "mips must be >= 0"),
    (lambda: brain.knowledge_fraction(10, 0), ValueError, "doubling_years must be > 0"),
    (lambda: brain.price_per_kwh(0, 1e5), ValueError, "power_w must be > 0"),
])
def test_timeline_rejects_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@given(target=st.floats(1e16, 1e30), current=st.floats(1e12, 1e16),
       d=st.floats(0.5, 5), start=st.floats(1990, 2030))
def test_year_reached_grows_with_doubling_time_and_target(target, current, d, start):
    y = brain.year_reached(target, current, start, d, whole=False)
    assert brain.year_reached(target, current, start, 2 * d, whole=False) >= y
    assert brain.year_reached(2 * target, current, start, d, whole=False) == pytest.approx(
        y + d)


# --- other estimates and facts --------------------------------------------------------

def test_kurzweil():  # facts 11 and 12
    assert brain.kurzweil_cps() == pytest.approx(2e16)
    assert 2e9 * 2**23 == pytest.approx(1.68e16, rel=2e-3)  # 1.678e16


def test_moravec_via_mips_to_flops():  # fact 13
    assert brain.mips_to_flops(1e8) == pytest.approx(3.03e13, rel=1e-3)
    moravec = next(e for e in brain.OTHER_ESTIMATES if e.author == "Moravec")
    assert moravec.central == pytest.approx(3.0e13, rel=0.02)


def test_knowledge_fraction_and_tianhe2_running_cost():  # facts 9 and 10
    assert brain.knowledge_fraction(10) == pytest.approx(0.000977, rel=1e-3)  # 0.098 %
    assert brain.price_per_kwh(24e6, 65e3) == pytest.approx(0.113, abs=0.001)
    assert brain.price_per_kwh(24e6, 100e3) == pytest.approx(0.174, abs=0.001)


def test_landauer_limit_at_20_watts():
    assert brain.landauer_bits_per_s(20, 310) == pytest.approx(6.7e21, rel=0.01)


def test_other_estimates_have_sources_and_span_the_reference_range():
    est = brain.OTHER_ESTIMATES
    for e in est:
        assert e.low <= e.high and e.source.startswith("http"), e
    assert min(e.low for e in est) == pytest.approx(1e12)   # Carlsmith, retina method
    assert max(e.high for e in est) == pytest.approx(1e25)  # Sandberg & Bostrom, metabolome
    sb = sorted(e.low for e in est if e.author == "Sandberg & Bostrom")
    assert sb == [1e15, 1e18, 1e22, 1e25]
    dettmers = next(e for e in est if e.author == "Dettmers")
    assert dettmers.central == brain.POST_ESTIMATE_FLOPS
    carlsmith = [(e.low, e.high) for e in est if e.author == "Carlsmith"]
    assert (1e13, 1e17) in carlsmith and (1e16, 1e20) in carlsmith


# --- TOP500 data and fits -------------------------------------------------------------

def test_top500_rows_all_have_sources_and_sane_values():
    rows = brain.load_top500()
    assert len(rows) >= 15
    for r in rows:
        assert r.sources and all(re.match(r"https?://", s) for s in r.sources), r.system
        assert r.provenance and r.rank >= 1
        assert 1e10 < r.rmax < 1e19
        if r.rpeak is not None:
            assert r.rpeak > r.rmax
        if r.hpcg is not None:
            assert r.hpcg < 0.05 * r.rmax  # HPCG runs at a few % of LINPACK
    firsts = [r for r in rows if r.rank == 1]
    assert [r.year for r in firsts] == sorted(r.year for r in firsts)


def test_top500_key_rows_match_the_reference():
    rows = {(r.list_date, r.rank): r for r in brain.load_top500()}
    assert rows[("1993-06", 1)].rmax == pytest.approx(59.7e9)
    tianhe = rows[("2015-06", 1)]
    assert tianhe.system == "Tianhe-2" and tianhe.hpcg == brain.TIANHE2_HPCG_FLOPS
    assert tianhe.hpcg / tianhe.rmax == pytest.approx(0.017, abs=0.0005)  # fact 14
    assert rows[("2022-06", 1)].rmax == pytest.approx(1.102e18)
    line = rows[("2026-06", 1)]
    assert line.system == "LineShine" and line.rmax == pytest.approx(2.198e18)
    assert line.hpcg == pytest.approx(22.0e15)


def test_doubling_fits_match_the_reference_growth_figures():
    rows = brain.load_top500()
    before = brain.fit_doubling_time(rows, last_year=2013.5)
    assert before.n_points == 2
    assert before.annual_factor == pytest.approx(1.94, abs=0.005)
    assert before.doubling_years * 12 == pytest.approx(12.6, abs=0.05)
    after = brain.fit_doubling_time(rows, first_year=2013)
    assert after.n_points >= 10 and after.doubling_years > 1.5 * before.doubling_years
    first = {r.list_date: r for r in rows if r.rank == 1}
    t2, frontier, line = first["2013-06"], first["2022-06"], first["2026-06"]
    to_frontier = hardware.growth([t2.year, frontier.year], [t2.rmax, frontier.rmax])
    assert to_frontier.annual_factor == pytest.approx(1.47, abs=0.005)
    assert to_frontier.doubling_years * 12 == pytest.approx(21.5, abs=0.05)
    to_line = hardware.growth([t2.year, line.year], [t2.rmax, line.rmax])
    assert to_line.annual_factor == pytest.approx(1.38, abs=0.005)
    assert to_line.doubling_years * 12 == pytest.approx(26, abs=0.5)
    hpcg = brain.fit_doubling_time(rows, metric="hpcg")  # Tianhe-2 2015 -> LineShine 2026
    assert hpcg.n_points == 2 and hpcg.doubling_years == pytest.approx(2.10, abs=0.005)


def test_fit_rejects_bad_input():
    rows = brain.load_top500()
    with pytest.raises(ValueError, match="two different years"):
        brain.fit_doubling_time(rows, first_year=2030)
    with pytest.raises(ValueError, match="metric must be one of"):
        brain.fit_doubling_time(rows, metric="flops")
    with pytest.raises(ValueError, match="rank must be >= 1"):
        brain.fit_doubling_time(rows, rank=0)


def test_the_package_re_exports_the_timeline():
    assert brain.year_reached is timeline.year_reached
    assert brain.load_top500 is timeline.load_top500


# --- the history figure: TOP500 beside AI clusters ------------------------------------

def test_history_figure_shows_ai_clusters_beside_top500():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.brain import ai_compute

    rows = brain.load_top500()
    fit = brain.fit_doubling_time(rows, first_year=2013)
    fig = timeline.history_figure(rows, fits=[("fit from 2013", fit, (2013.4, 2026.4))])
    try:
        ax = fig.axes[0]
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        clusters = ai_compute.load_ai_clusters()
        ai = lines[timeline.AI_CLUSTER_LABEL]
        assert list(ai.get_ydata()) == [c.peak_bf16 for c in clusters]
        assert list(ai.get_xdata()) == [c.year for c in clusters]
        top = lines["TOP500 #1, LINPACK Rmax (FP64)"]
        assert len(top.get_xdata()) == sum(r.rank == 1 for r in rows)
        assert any(lab.startswith("fit from 2013: doubling every") for lab in lines)
        brain_line = next(ln for lab, ln in lines.items() if lab.startswith("Dettmers'"))
        assert list(brain_line.get_ydata()) == [brain.POST_ESTIMATE_FLOPS] * 2
        assert ax.get_yscale() == "log"
    finally:
        plt.close(fig)
    empty = timeline.history_figure(rows, clusters=[])
    try:
        labels = [ln.get_label() for ln in empty.axes[0].get_lines()]
        assert timeline.AI_CLUSTER_LABEL not in labels
    finally:
        plt.close(empty)


def test_history_figure_rejects_bad_input():
    with pytest.raises(ValueError, match="estimate must be > 0"):
        timeline.history_figure(estimate=0)
    with pytest.raises(TypeError, match="fits must hold"):
        timeline.history_figure(fits=[("x", 1.0, (2013, 2026))])
