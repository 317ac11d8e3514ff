"""course_utils.core.measure: the result type, the timing loop, the retry rule, emit."""

from __future__ import annotations

import json

import pytest

from course_utils.core import measure
from course_utils.core.measure import CopyMeasurement


def test_copy_measurement_bandwidth():
    m = CopyMeasurement(nbytes=2_000_000, seconds=1e-3)
    assert m.bandwidth == pytest.approx(2e9) and m.gb_per_s == pytest.approx(2.0)


def test_time_calls_on_one_process_returns_repeats_per_call():
    counts = [0, 0]

    def call(i):
        def f():
            counts[i] += 1
        return f

    runs = measure.time_calls([call(0), call(1)], lambda: None, lambda t: t, lambda k: k,
                              repeats=4, warmup=2)
    assert len(runs) == 2 and all(len(r) == 4 for r in runs)
    assert all(t > 0 for r in runs for t in r)
    # warm-up, one calibration call, then 4 runs of min_seconds=0 -> 1 call each
    assert counts == [2 + 1 + 4, 2 + 1 + 4]
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        measure.time_calls([call(0)], lambda: None, lambda t: t, lambda k: k, repeats=0)


def test_emit_prints_the_marker_line(capsys):
    measure.emit({"a": 1})
    out = capsys.readouterr().out
    assert out.startswith(measure.MARKER)
    assert json.loads(out[len(measure.MARKER):]) == {"a": 1}
    with pytest.raises(TypeError, match="result must be a dict"):
        measure.emit([1])


def test_measure_until_stops_at_the_first_accepted_result():
    results = iter([5.0, 1.0, 0.5])
    value, tries = measure.measure_until(lambda: next(results), lambda v: v < 2, attempts=3)
    assert (value, tries) == (1.0, 2)


def test_measure_until_returns_the_last_result_when_none_is_accepted():
    results = iter([5.0, 4.0, 3.0, 0.0])
    value, tries = measure.measure_until(lambda: next(results), lambda v: v < 2, attempts=3)
    assert (value, tries) == (3.0, 3)


@pytest.mark.parametrize("attempts", [0, -1])
def test_measure_until_rejects_no_attempts(attempts):
    with pytest.raises(ValueError, match="attempts"):
        measure.measure_until(lambda: 1, lambda v: True, attempts=attempts)


def test_measure_until_rejects_non_callables():
    with pytest.raises(TypeError, match="callables"):
        measure.measure_until(1, lambda v: True)
