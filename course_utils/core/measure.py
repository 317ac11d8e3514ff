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
* :func:`emit` and :data:`MARKER`: how a launched worker's rank 0 reports its result
  (read back by :func:`course_utils.core.launchers.launch`).

Used by every chapter that measures this machine: setup, ``mgpu_measure``,
``dp_communication``, ``mp_split_layers`` and ``conv_3_cuda``.

Used in: :doc:`/notebooks/setup`, :doc:`/notebooks/mgpu_measure`,
:doc:`/notebooks/dp_communication`, :doc:`/notebooks/mp_split_layers`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .checks import check_int, check_number

__all__ = ["CopyMeasurement", "time_calls", "measure_until", "MARKER", "emit"]

T = TypeVar("T")

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
