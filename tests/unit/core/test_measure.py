"""course_utils.core.measure: the result type, the timing loop, the retry rule, emit."""

from __future__ import annotations

import json

import numpy as np
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


# --- timing checks: strict under test, a printed note for a reader -------------------

def test_low_quantile_is_the_10th_percentile():
    samples = np.arange(1, 101) * 1e-6
    assert measure.low_quantile(samples) == pytest.approx(np.quantile(samples, 0.1))
    assert measure.low_quantile(samples, 0) == 1e-6


@pytest.mark.parametrize("samples, q, match", [
    ([], 0.1, "samples must be a non-empty"),
    ([1.0, float("nan")], 0.1, "samples must be a non-empty"),
    ([1.0], 1.5, "q must be <= 1"),
])
def test_low_quantile_rejects_bad_input(samples, q, match):
    with pytest.raises(ValueError, match=match):
        measure.low_quantile(samples, q)


def test_timing_mode_defaults_to_reader(monkeypatch):
    monkeypatch.delenv(measure.TIMING_MODE_ENV, raising=False)
    assert measure.timing_mode() == "reader"
    monkeypatch.setenv(measure.TIMING_MODE_ENV, " Strict ")
    assert measure.timing_mode() == "strict"
    monkeypatch.setenv(measure.TIMING_MODE_ENV, "lenient")
    with pytest.raises(ValueError, match="COURSE_TIMING_CHECKS must be one of reader, strict"):
        measure.timing_mode()


def test_make_test_runs_timing_checks_strictly():
    """tests/conftest.py (and `make test`) set strict mode, so a miss fails the tests."""
    assert measure.timing_mode() == "strict"


def test_a_missed_check_raises_under_test(monkeypatch):
    monkeypatch.setenv(measure.TIMING_MODE_ENV, "strict")
    with pytest.raises(measure.TimingCheckFailed, match="expected: under 10 s; measured: 12.0 s"):
        measure.check_timing(False, expected="under 10 s", measured="12.0 s")
    assert issubclass(measure.TimingCheckFailed, AssertionError)


def test_a_missed_check_prints_a_note_for_a_reader(monkeypatch, capsys):
    monkeypatch.setenv(measure.TIMING_MODE_ENV, "reader")
    assert measure.check_timing(np.float64(12.0) < 10, expected="under 10 s",
                                measured="12.0 s", rerun="run the cell again") is False
    out = capsys.readouterr().out
    assert measure.TIMING_NOTE in out and "the notebook goes on" in out
    for part in ("expected: under 10 s", "measured: 12.0 s", "likely cause: a busy machine",
                 "to re-run: run the cell again"):
        assert part in out


def test_a_held_check_is_silent_in_both_modes(monkeypatch, capsys):
    for mode in ("reader", "strict"):
        monkeypatch.setenv(measure.TIMING_MODE_ENV, mode)
        assert measure.check_timing(True, expected="x", measured="y") is True
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"ok": "yes", "expected": "a", "measured": "b"}, TypeError, "ok must be a bool"),
    ({"ok": True, "expected": "", "measured": "b"}, ValueError, "expected must be a non-empty"),
    ({"ok": True, "expected": "a", "measured": None}, ValueError, "measured must be a non-empty"),
])
def test_check_timing_rejects_bad_input(kwargs, exc, match):
    ok = kwargs.pop("ok")
    with pytest.raises(exc, match=match):
        measure.check_timing(ok, **kwargs)
