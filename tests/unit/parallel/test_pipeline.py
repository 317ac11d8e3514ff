"""GPipe and 1F1B schedules: the simulator against the closed forms and the rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_utils.parallel import pipeline as pp


@pytest.mark.parametrize("schedule", [pp.gpipe_schedule, pp.one_f_one_b_schedule])
@pytest.mark.parametrize("n_stages", [1, 2, 4, 6])
@pytest.mark.parametrize("n_micro", [1, 3, 8, 16])
def test_equal_stages_give_the_closed_form_bubble_and_makespan(schedule, n_stages, n_micro):
    s = schedule(n_stages, n_micro, forward_time=1.0, backward_time=2.0)
    assert s.makespan == pytest.approx((n_micro + n_stages - 1) * 3.0)
    assert s.bubble_fraction == pytest.approx(pp.bubble_fraction(n_stages, n_micro))


def test_bubble_fraction_values():
    assert pp.bubble_fraction(4, 4) == pytest.approx(3 / 7)
    assert pp.bubble_fraction(1, 5) == 0.0
    assert pp.bubble_fraction([2, 4], 8).tolist() == pytest.approx([1 / 9, 3 / 11])


def test_activation_memory_gpipe_holds_all_micro_batches_1f1b_at_most_s_minus_stage():
    g, o = pp.gpipe_schedule(4, 8), pp.one_f_one_b_schedule(4, 8)
    assert [g.peak_in_flight(s) for s in range(4)] == [8, 8, 8, 8]
    assert [o.peak_in_flight(s) for s in range(4)] == [4, 3, 2, 1]


stage_times = st.lists(st.floats(0.1, 5.0), min_size=1, max_size=5)


@given(fwd=stage_times, micro=st.integers(1, 6), comm=st.floats(0.0, 1.0),
       one_f_one_b=st.booleans())
def test_schedules_respect_dependencies_and_run_one_task_at_a_time(fwd, micro, comm,
                                                                   one_f_one_b):
    n = len(fwd)
    bwd = [2 * f for f in fwd]
    make = pp.one_f_one_b_schedule if one_f_one_b else pp.gpipe_schedule
    sched = make(n, micro, fwd, bwd, comm)
    assert len(sched.tasks) == 2 * n * micro
    at = {(t.kind, t.stage, t.micro_batch): t for t in sched.tasks}
    for t in sched.tasks:
        assert t.end - t.start == pytest.approx((fwd if t.kind == "F" else bwd)[t.stage])
        if t.kind == "F" and t.stage > 0:
            assert t.start >= at[("F", t.stage - 1, t.micro_batch)].end + comm - 1e-9
        if t.kind == "B":
            assert t.start >= at[("F", t.stage, t.micro_batch)].end - 1e-9
            if t.stage < n - 1:
                assert t.start >= at[("B", t.stage + 1, t.micro_batch)].end + comm - 1e-9
    for s in range(n):
        mine = sorted((t for t in sched.tasks if t.stage == s), key=lambda t: t.start)
        assert all(a.end <= b.start + 1e-9 for a, b in zip(mine, mine[1:], strict=False))
    assert 0.0 <= sched.bubble_fraction < 1.0


def test_transfers_lengthen_the_critical_path():
    base = pp.gpipe_schedule(4, 1, 1.0, 2.0)
    slow = pp.gpipe_schedule(4, 1, 1.0, 2.0, transfer_time=0.5)
    assert slow.makespan - base.makespan == pytest.approx(2 * 3 * 0.5)


def test_the_slowest_stage_sets_the_pace():
    sched = pp.gpipe_schedule(3, 10, [1.0, 3.0, 1.0], [2.0, 6.0, 2.0])
    # 10 forwards and 10 backwards on stage 1, plus the fill and drain of the others
    assert sched.makespan == pytest.approx(10 * 9.0 + 2 * 1.0 + 2 * 2.0)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: pp.gpipe_schedule(0, 4), ValueError, "n_stages must be >= 1"),
    (lambda: pp.gpipe_schedule(2, 0), ValueError, "n_micro_batches must be >= 1"),
    (lambda: pp.gpipe_schedule(2, 2, [1.0, 1.0, 1.0]), ValueError, "one per stage"),
    (lambda: pp.gpipe_schedule(2, 2, -1.0), ValueError, r"forward_time\[0\] must be >= 0"),
    (lambda: pp.simulate([[("F", 0), ("F", 0)]], 1.0, 1.0), ValueError, "once each"),
    (lambda: pp.simulate([[("B", 0), ("F", 0)]], 1.0, 1.0), ValueError, "deadlock"),
    (lambda: pp.simulate([], 1.0, 1.0), ValueError, "at least one stage"),
    (lambda: pp.bubble_fraction(2.5, 4), ValueError, "n_stages must be a whole number"),
])
def test_bad_inputs_raise_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_interleaved_bubble_shrinks_with_chunks_and_matches_1f1b_at_one():
    from course_utils.parallel.pipeline import interleaved_bubble_fraction

    for s, m in [(4, 8), (16, 48), (8, 3)]:
        sim = pp.one_f_one_b_schedule(s, m)
        assert interleaved_bubble_fraction(s, m, 1) == pytest.approx(sim.bubble_fraction)
        assert interleaved_bubble_fraction(s, m, 1) == pytest.approx(
            pp.bubble_fraction(s, m))
    # Narayanan et al. 2021: bubble time over ideal time is (p - 1) / (v m)
    f = interleaved_bubble_fraction(16, 48, 3)
    assert f / (1 - f) == pytest.approx(15 / (3 * 48))
    with pytest.raises(ValueError, match="chunks"):
        interleaved_bubble_fraction(4, 8, 0)
