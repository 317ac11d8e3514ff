"""Pipeline parallelism: micro-batch schedules, their timelines and the bubble.

The model's layers are cut into ``S`` consecutive stages, one per GPU; a mini-batch is
cut into ``M`` micro-batches that flow through the stages like cars through a car
wash. GPipe (Huang et al. 2019, https://arxiv.org/abs/1811.06965) runs every
micro-batch's forward pass, then every backward pass, then updates the weights once
("flush"). While the pipeline fills and drains, some stages wait: the **bubble**. With
equal stage times it is ``(S - 1) / (M + S - 1)`` of the step.

:func:`simulate` computes start and end times of every forward (F) and backward (B)
task from per-stage task orders and the dependencies (F of micro-batch m on stage s
after F of m on stage s-1; B of m on stage s after B of m on stage s+1 and after F of
m on stage s), so stage times may differ and activations may take time to travel
between stages. :func:`gpipe_order` and :func:`one_f_one_b_order` (PipeDream-Flush's
"one forward, one backward" order, Narayanan et al. 2021,
https://arxiv.org/abs/2104.04473) give the orders. Times are in any one unit
(milliseconds in the chapter).

:func:`interleaved_bubble_fraction` gives the bubble of Megatron-LM's interleaved 1F1B
schedule (each GPU holds ``v`` non-adjacent chunks of layers; Narayanan et al. 2021,
section 2.2.2): the fill and drain shrink ``v`` times.

Used in: :doc:`/notebooks/mp_pipeline_memory`,
:doc:`/notebooks/modern_transformer_parallelism`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.checks import RealLike, as_real_array, check_int, check_number, scalar_or_array

__all__ = [
    "Task",
    "Schedule",
    "gpipe_order",
    "one_f_one_b_order",
    "simulate",
    "gpipe_schedule",
    "one_f_one_b_schedule",
    "bubble_fraction",
    "interleaved_bubble_fraction",
]


@dataclass(frozen=True)
class Task:
    """One forward (``kind="F"``) or backward (``"B"``) pass of a micro-batch on a stage."""

    stage: int
    micro_batch: int
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class Schedule:
    """The simulated timeline of one pipelined training step (before the update)."""

    n_stages: int
    n_micro_batches: int
    tasks: tuple[Task, ...]

    @property
    def makespan(self) -> float:
        """Time from the first task's start to the last task's end."""
        return max(t.end for t in self.tasks) - min(t.start for t in self.tasks)

    def busy_time(self, stage: int) -> float:
        """Time ``stage`` spends computing."""
        return sum(t.end - t.start for t in self.tasks if t.stage == stage)

    @property
    def bubble_fraction(self) -> float:
        """Idle share of all stages' time: ``1 - sum(busy) / (S * makespan)``."""
        busy = sum(self.busy_time(s) for s in range(self.n_stages))
        return 1.0 - busy / (self.n_stages * self.makespan)

    def peak_in_flight(self, stage: int) -> int:
        """Most micro-batches whose activations ``stage`` holds at once (from the start
        of a micro-batch's forward to the end of its backward): the activation memory
        the schedule needs, in micro-batches."""
        events = sorted((t.start, 1) if t.kind == "F" else (t.end, -1)
                        for t in self.tasks if t.stage == stage)
        level = peak = 0
        for _, step in events:  # at equal times a release (-1) sorts first
            level += step
            peak = max(peak, level)
        return peak


def _check_shape(n_stages: int, n_micro_batches: int) -> tuple[int, int]:
    return (check_int("n_stages", n_stages, minimum=1, maximum=4096),
            check_int("n_micro_batches", n_micro_batches, minimum=1, maximum=100_000))


def gpipe_order(n_stages: int, n_micro_batches: int) -> list[list[tuple[str, int]]]:
    """Per stage: all forwards F0..F(M-1), then the backwards B(M-1)..B0 (GPipe)."""
    s_count, m_count = _check_shape(n_stages, n_micro_batches)
    one = [("F", m) for m in range(m_count)] + [("B", m) for m in reversed(range(m_count))]
    return [list(one) for _ in range(s_count)]


def one_f_one_b_order(n_stages: int, n_micro_batches: int) -> list[list[tuple[str, int]]]:
    """Per stage s: ``S - s - 1`` warm-up forwards, then one forward and one backward in
    turn, then the remaining backwards (1F1B). Same bubble as GPipe with equal stage
    times, but stage s holds at most ``S - s`` micro-batches' activations, not ``M``."""
    s_count, m_count = _check_shape(n_stages, n_micro_batches)
    orders = []
    for s in range(s_count):
        warm = min(s_count - s - 1, m_count)
        order = [("F", m) for m in range(warm)]
        for m in range(warm, m_count):
            order += [("F", m), ("B", m - warm)]
        order += [("B", m) for m in range(m_count - warm, m_count)]
        orders.append(order)
    return orders


def _per_stage(name: str, value: float | Sequence[float], n_stages: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 1:
        arr = np.full(n_stages, arr[0])
    if arr.shape != (n_stages,):
        raise ValueError(f"{name} must be a number or {n_stages} numbers (one per stage), "
                         f"got {arr.size}")
    for i, v in enumerate(arr):
        check_number(f"{name}[{i}]", float(v), minimum=0)
    return arr


def simulate(orders: Sequence[Sequence[tuple[str, int]]], forward_time: float | Sequence[float],
             backward_time: float | Sequence[float], transfer_time: float = 0.0) -> Schedule:
    """Start and end of every task, each stage running its ``orders[s]`` in sequence.

    Args:
        orders: per stage, the ``("F"|"B", micro_batch)`` tasks in the order it runs them
            (every micro-batch's F and B exactly once).
        forward_time, backward_time: one micro-batch's time on a stage (one number for
            all stages, or one per stage).
        transfer_time: time to send activations (forward) or their gradients (backward)
            from one stage to the next.

    Raises:
        ValueError: malformed orders, or orders that deadlock.
    """
    s_count = len(orders)
    if s_count < 1:
        raise ValueError("orders must list the tasks of at least one stage")
    m_count = len(orders[0]) // 2
    for s, order in enumerate(orders):
        expected = {(k, m) for k in "FB" for m in range(m_count)}
        if len(order) != 2 * m_count or set(order) != expected:
            raise ValueError(f"orders[{s}] must hold F and B of micro-batches 0..{m_count - 1} "
                             "once each")
    tf = _per_stage("forward_time", forward_time, s_count)
    tb = _per_stage("backward_time", backward_time, s_count)
    comm = check_number("transfer_time", transfer_time, minimum=0)
    done: dict[tuple[str, int, int], float] = {}
    tasks: list[Task] = []
    position = [0] * s_count
    free_at = [0.0] * s_count
    while len(tasks) < 2 * m_count * s_count:
        progressed = False
        for s in range(s_count):
            if position[s] == len(orders[s]):
                continue
            kind, m = orders[s][position[s]]
            if kind == "F":
                needs = [("F", s - 1, m)] if s > 0 else []
            else:
                needs = [("F", s, m)] + ([("B", s + 1, m)] if s < s_count - 1 else [])
            if any(n not in done for n in needs):
                continue
            ready = max([free_at[s]] + [done[n] + (comm if n[1] != s else 0.0) for n in needs])
            end = ready + (tf[s] if kind == "F" else tb[s])
            tasks.append(Task(s, m, kind, ready, end))
            done[(kind, s, m)] = free_at[s] = end
            position[s] += 1
            progressed = True
        if not progressed:
            raise ValueError("orders deadlock: no stage can run its next task")
    return Schedule(s_count, m_count, tuple(sorted(tasks, key=lambda t: (t.start, t.stage))))


def gpipe_schedule(n_stages: int, n_micro_batches: int, forward_time: float | Sequence[float] = 1.0,
                   backward_time: float | Sequence[float] = 2.0,
                   transfer_time: float = 0.0) -> Schedule:
    """:func:`simulate` with :func:`gpipe_order` (backward defaults to twice forward)."""
    return simulate(gpipe_order(n_stages, n_micro_batches), forward_time, backward_time,
                    transfer_time)


def one_f_one_b_schedule(n_stages: int, n_micro_batches: int,
                         forward_time: float | Sequence[float] = 1.0,
                         backward_time: float | Sequence[float] = 2.0,
                         transfer_time: float = 0.0) -> Schedule:
    """:func:`simulate` with :func:`one_f_one_b_order`."""
    return simulate(one_f_one_b_order(n_stages, n_micro_batches), forward_time, backward_time,
                    transfer_time)


def bubble_fraction(n_stages: RealLike, n_micro_batches: RealLike) -> float | np.ndarray:
    """GPipe's bubble with equal stage times and free transfers: ``(S-1) / (M+S-1)``.

    Accepts arrays (broadcast together).
    """
    s = as_real_array("n_stages", n_stages, minimum=1, integer=True)
    m = as_real_array("n_micro_batches", n_micro_batches, minimum=1, integer=True)
    return scalar_or_array((s - 1) / (m + s - 1))


def interleaved_bubble_fraction(n_stages: RealLike, n_micro_batches: RealLike,
                                chunks: RealLike = 1) -> float | np.ndarray:
    """Bubble share of the step under 1F1B with ``chunks`` (``v``) model chunks per GPU:
    ``(S-1) / (v M + S-1)`` (Narayanan et al. 2021, https://arxiv.org/abs/2104.04473,
    section 2.2.2: bubble time over ideal time ``(S-1) / (v M)``). ``chunks=1`` is plain
    1F1B, whose bubble equals GPipe's (:func:`bubble_fraction`). Accepts arrays.
    """
    s = as_real_array("n_stages", n_stages, minimum=1, integer=True)
    m = as_real_array("n_micro_batches", n_micro_batches, minimum=1, integer=True)
    v = as_real_array("chunks", chunks, minimum=1, integer=True)
    return scalar_or_array((s - 1) / (v * m + s - 1))
