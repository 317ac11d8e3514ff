"""Measurement on a shared machine: one timing loop, one retry rule, one result type.

* :class:`CopyMeasurement`: one measured size (bytes, seconds); every benchmark in the
  course (host copies, GPU copies, ping-pong, all-reduce) returns these or lists of
  them, so one plot and one fit (:func:`course_utils.core.alphabeta.fit_alpha_beta`)
  serve all of them.
* :func:`time_calls`: the engine-neutral timing loop of every multi-process benchmark
  (ping-pong in chapter 1, all-reduce in chapter 2, split layers in chapter 3):
  warm-up, barrier, a calibrated repeat count, the slowest rank's time, sizes
  interleaved.
* :func:`measure_until`: repeat a measurement whose check failed, so that a burst of
  someone else's load does not count as a wrong model.
* :func:`check_timing`: the one way a notebook or test checks a timing claim. Under
  test (``COURSE_TIMING_CHECKS=strict``, which ``make test`` sets) a miss raises
  :class:`TimingCheckFailed`; for a reader (the default) a miss prints a note (what was
  expected, what was measured, the likely cause, how to re-run) and the notebook goes on.
* :func:`low_quantile`: the 10th-percentile time of repeated samples, the estimator the
  timing checks use (steadier than the minimum on a shared machine).
* :func:`emit` and :data:`MARKER`: how a launched worker's rank 0 reports its result
  (read back by :func:`course_utils.core.launchers.launch`).

Used by every chapter that measures this machine: setup, ``mgpu_measure``,
``dp_communication``, ``mp_split_layers`` and ``conv_3_cuda``.

Used in: :doc:`/notebooks/setup`, :doc:`/notebooks/mgpu_measure`,
:doc:`/notebooks/dp_communication`, :doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from .checks import check_int, check_number

__all__ = [
    "CopyMeasurement",
    "time_calls",
    "measure_until",
    "low_quantile",
    "MARKER",
    "emit",
    "TIMING_MODE_ENV",
    "TIMING_NOTE",
    "TimingCheckFailed",
    "timing_mode",
    "check_timing",
]

T = TypeVar("T")

#: Environment variable that selects how :func:`check_timing` treats a miss: ``"strict"``
#: (raise; ``make test`` sets it) or ``"reader"`` (print a note and go on; the default).
TIMING_MODE_ENV = "COURSE_TIMING_CHECKS"
TIMING_MODES = ("reader", "strict")
#: First words of the note a missed timing check prints in reader mode.
TIMING_NOTE = "Timing check missed"

#: Prefix of the result line that rank 0 of a launched worker prints (then JSON).
MARKER = "COURSE_UTILS_JSON "


@dataclass(frozen=True)
class CopyMeasurement:
    """One size: ``nbytes`` (bytes), ``seconds`` (best time for one copy or message)."""

    nbytes: int
    seconds: float

    @property
    def bandwidth(self) -> float:
        """Bytes moved per second (B/s)."""
        return self.nbytes / self.seconds

    @property
    def gb_per_s(self) -> float:
        """Bytes moved per second in GB/s (10^9 B/s)."""
        return self.bandwidth / 1e9


def emit(result: dict) -> None:
    """Print ``result`` as the one line :func:`course_utils.core.launchers.launch` looks for.

    Call it on rank 0 only.
    """
    if not isinstance(result, dict):
        raise TypeError(f"result must be a dict, got {type(result).__name__}")
    print(MARKER + json.dumps(result), flush=True)


def time_calls(
    calls: Sequence[Callable[[], None]],
    barrier: Callable[[], None],
    slowest: Callable[[float], float],
    agree: Callable[[int], int],
    *,
    repeats: int,
    warmup: int = 3,
    min_seconds: float = 0.0,
) -> list[list[float]]:
    """Seconds per call for each function in ``calls``, ``repeats`` runs each (any engine).

    The runs are interleaved (size 1, size 2, ..., size 1, size 2, ...), so a slow
    spell on a shared machine hits every size alike. ``barrier()`` synchronises ranks,
    ``slowest(t)`` returns the maximum of ``t`` over ranks, ``agree(k)`` returns rank 0's
    ``k`` on every rank. A run repeats its call enough times to last about
    ``min_seconds`` (at least once, at most 1000 times). Returns one list of
    ``repeats`` times (seconds per call) per call.
    """
    repeats = check_int("repeats", repeats, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    min_seconds = check_number("min_seconds", min_seconds, minimum=0)
    if not calls:
        raise ValueError("calls must contain at least one callable")
    inners = []
    for call in calls:
        for _ in range(warmup):
            call()
        barrier()
        t0 = time.perf_counter()
        call()
        one = slowest(time.perf_counter() - t0)
        inners.append(agree(int(max(1, min(1000, min_seconds / max(one, 1e-7))))))
    runs: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for call, inner, out in zip(calls, inners, runs, strict=True):
            barrier()
            t0 = time.perf_counter()
            for _ in range(inner):
                call()
            out.append(slowest(time.perf_counter() - t0) / inner)
    return runs


def measure_until(
    measure: Callable[[], T], accept: Callable[[T], bool], *, attempts: int = 3
) -> tuple[T, int]:
    """Call ``measure()`` until ``accept(result)`` holds, at most ``attempts`` times.

    Returns the last result and how many measurements it took. On a machine shared
    with other work, a burst of someone else's load can spoil every repeat of one
    short timing run; a fresh run a moment later usually is not spoiled. The caller
    still checks the returned result, so a disagreement that persists through every
    attempt is reported as what it is: the model does not fit this machine.
    """
    attempts = check_int("attempts", attempts, minimum=1)
    if not callable(measure) or not callable(accept):
        raise TypeError("measure and accept must be callables")
    result, tries = measure(), 1
    while not accept(result) and tries < attempts:
        result, tries = measure(), tries + 1
    return result, tries


def low_quantile(samples, q: float = 0.1) -> float:
    """The ``q``-quantile (default the 10th percentile) of ``samples`` (seconds).

    On a shared machine the minimum of many samples is itself noisy (one lucky run sets
    it) and the median carries everyone else's load; a low quantile is the time a call
    takes when the machine is quiet, and it moves less from one measurement to the next.
    """
    q = check_number("q", q, minimum=0, maximum=1)
    values = np.asarray(samples, dtype=float).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("samples must be a non-empty sequence of finite times in seconds")
    return float(np.quantile(values, q))


class TimingCheckFailed(AssertionError):
    """A timing claim did not hold on this machine (raised in strict mode only)."""


def timing_mode() -> str:
    """``"strict"`` or ``"reader"``, from the ``COURSE_TIMING_CHECKS`` variable (default reader)."""
    value = os.environ.get(TIMING_MODE_ENV, "").strip().lower() or "reader"
    if value not in TIMING_MODES:
        raise ValueError(
            f"{TIMING_MODE_ENV} must be one of {', '.join(TIMING_MODES)}, got {value!r}"
        )
    return value


def check_timing(
    ok: bool,
    *,
    expected: str,
    measured: str,
    rerun: str = "re-run this cell when the machine is idle",
    cause: str = (
        "a busy machine: other programs (or a slow, shared cloud CPU) took the cores "
        "while this cell was timing"
    ),
) -> bool:
    """Check a claim about measured time; returns ``ok``.

    A timing depends on the machine and on what else runs on it, so a miss on a
    reader's machine is information, not an error: in reader mode (the default) it
    prints a visible note with ``expected``, ``measured``, the likely ``cause`` and how
    to ``rerun``, and the notebook goes on. Under test (``COURSE_TIMING_CHECKS=strict``)
    it raises :class:`TimingCheckFailed` with the same text.
    """
    if not isinstance(ok, bool | np.bool_):
        raise TypeError(f"ok must be a bool, got {type(ok).__name__}")
    for name, text in (("expected", expected), ("measured", measured), ("rerun", rerun),
                       ("cause", cause)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} must be a non-empty string, got {text!r}")
    if ok:
        return True
    lines = [
        f"expected: {expected}",
        f"measured: {measured}",
        f"likely cause: {cause}",
        f"to re-run: {rerun}",
    ]
    if timing_mode() == "strict":
        raise TimingCheckFailed(f"{TIMING_NOTE}. " + "; ".join(lines))
    width = max(len(line) for line in lines) + 4
    bar = "=" * min(width, 100)
    print("\n".join([bar, f"  {TIMING_NOTE} (the notebook goes on)",
                      *(f"  {line}" for line in lines), bar]), flush=True)
    return False

