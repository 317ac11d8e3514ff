"""course_utils.brain.estimate against the checkable facts of the course reference
(/work/shared/reference/brain-vs-deep-learning.md, section 8 and sections 4-6).

The timeline, other estimates and TOP500 (course_utils.brain.timeline): test_timeline.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils import brain
from course_utils.brain import estimate


@pytest.fixture(scope="module")
def est():
    return brain.dettmers_estimate()


# --- the estimate ---------------------------------------------------------------------

@pytest.mark.parametrize("ms, steps", [(20, 0.6), (80, 2.4), (200, 6.0)])
def test_recognition_times_at_30_fps(ms, steps):  # fact 1
    assert brain.steps_at_frame_rate(ms / 1000, 30) == pytest.approx(steps)


def test_time_steps_default_is_the_posts_5_and_inside_the_recognition_range(est):  # fact 1
    assert est.inputs["time_steps"] == 5
    p = next(p for p in brain.PARAMETERS if p.name == "time_steps")
    assert (p.low, p.high) == (pytest.approx(brain.steps_at_frame_rate(0.080)),
                               pytest.approx(brain.steps_at_frame_rate(0.200)))


def test_granule_filter_and_input(est):  # fact 2
    assert est.granule_filter == (3, 4, 5) and est.granule_filter_taps == 60
    assert est.granule_input == (15, 5) and est.granule_input_values == 75
    assert est.granule_cost == 4_500  # fact 4


def test_purkinje_filter_and_input(est):  # fact 3
    assert est.purkinje_filter == (10, 1000, 5) and est.purkinje_filter_taps == 50_000
    assert est.purkinje_input == (100_000, 5) and est.purkinje_input_values == 500_000
    assert est.purkinje_cost == 2.5e10  # fact 4


def test_h1_reproduces_the_posts_total(est):  # fact 5
    assert est.h1_flops == pytest.approx(1.0750002e21, rel=1e-7)
    assert est.flops == est.h1_flops
    assert brain.matches_post(est.flops)
    assert est.flops == pytest.approx(brain.POST_ESTIMATE_FLOPS, rel=1e-6)


def test_h2_gives_the_order_of_magnitude_only(est):  # fact 6
    assert est.h2_flops == pytest.approx(1.0e21)
    assert est.h2_granule_flops == pytest.approx(9e16)
    assert not brain.matches_post(est.h2_flops)
    assert not brain.matches_post(est.h2_flops + est.h2_granule_flops)
    matching = [k for k, v in brain.reconstructions(est).items() if brain.matches_post(v)]
    assert len(matching) == 1 and matching[0].startswith("H1")


def test_synapse_counts_disagree_by_two(est):  # fact 15
    assert est.granule_to_purkinje_synapses == pytest.approx(5e12)
    assert est.purkinje_input_synapses == pytest.approx(1e13)


def test_overrides_change_the_chain():
    e = brain.dettmers_estimate(time_steps=6)
    assert e.purkinje_cost == pytest.approx(600_000 * 60_000)
    assert e.flops == pytest.approx((e.granule_cost + e.purkinje_cost) / 2 * 86e9)
    assert brain.dettmers_estimate(neurons=43e9).flops == pytest.approx(
        brain.dettmers_estimate().flops / 2)


@given(t=st.floats(0.5, 20), n=st.floats(1e9, 1e12))
def test_h1_scales_with_neurons_and_about_t_squared(t, n):
    base = brain.dettmers_estimate(time_steps=t, neurons=n)
    assert brain.dettmers_estimate(time_steps=t, neurons=2 * n).flops == pytest.approx(
        2 * base.flops)
    # Purkinje dominates: the time steps appear in the input and in the filter
    assert brain.dettmers_estimate(time_steps=2 * t, neurons=n).flops == pytest.approx(
        4 * base.flops, rel=1e-5)


def test_every_parameter_has_unit_meaning_and_source():
    assert len({p.name for p in brain.PARAMETERS}) == len(brain.PARAMETERS)
    for p in brain.PARAMETERS:
        assert p.unit and p.meaning and p.source, p.name
        assert brain.DEFAULTS[p.name] == p.default
        if p.low is not None:
            assert p.low <= p.default <= p.high and p.range_source, p.name


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"neurons": -1}, ValueError, "neurons must be > 0"),
    ({"purkinje_inputs": 0}, ValueError, "purkinje_inputs must be > 0"),
    ({"time_steps": float("nan")}, ValueError, "time_steps must be finite"),
    ({"time_steps": "5"}, TypeError, "time_steps must be a real number"),
    ({"synapses": 1e14}, TypeError, "unknown parameter.*synapses"),
])
def test_estimate_rejects_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        brain.dettmers_estimate(**kwargs)


def test_tornado_orders_time_steps_first_and_granule_last():
    bars = brain.sensitivity()
    assert bars[0].name == "time_steps"
    assert bars[0].flops_low == pytest.approx(brain.dettmers_estimate(time_steps=2.4).flops)
    assert bars[0].flops_high == pytest.approx(brain.dettmers_estimate(time_steps=6).flops)
    assert all(a.swing_decades >= b.swing_decades for a, b in zip(bars, bars[1:], strict=False))
    assert {b.name for b in bars[-3:]} == {"granule_dendrites", "granule_branches",
                                            "granule_inputs"}
    assert bars[-1].swing_decades < 1e-6  # granule cells barely matter under H1
    with pytest.raises(ValueError, match="names must hold parameters"):
        brain.sensitivity(["h2_rate_hz"])


def test_the_package_re_exports_the_estimate():
    """``from course_utils import brain; brain.dettmers_estimate()`` still works."""
    assert brain.dettmers_estimate is estimate.dettmers_estimate
    assert brain.POST_ESTIMATE_FLOPS == estimate.POST_ESTIMATE_FLOPS == 1.075e21
