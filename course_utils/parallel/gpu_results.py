"""Chapter 2's GPU measurements, committed by ``benchmarks/gpu_all.py``, beside the CPU figures.

Two files in ``course_utils/data/`` (read with
:func:`course_utils.core.provenance.load_results`):

* ``matmul_gpu.json``: the dense-layer product's FLOP/s against the batch size in fp32,
  TF32 and BF16 (:func:`course_utils.parallel.timing.matmul_throughput` on the GPU);
  :func:`matmul_report` sets it beside this machine's CPU curve, each as a share of its
  own best rate, so the batch at which each saturates can be compared;
* ``quantisation_gpu.json``: seconds per value to compress and decompress with each
  8-bit type and 1-bit (:func:`course_utils.parallel.compression.time_quantisation` on
  CUDA tensors); :func:`quantisation_report` sets it beside NumPy on this CPU and the
  paper's GTX Titan figures.

Each returns ``(text, figure)``; the figure's labels name the GPU and the date. Without
a committed file (``None``) the text is the "pending" line and the figure ``None``.

Used in: :doc:`/notebooks/dp_communication`, :doc:`/notebooks/dp_compression`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.checks import as_real_array
from ..core.provenance import pending_note, result_label
from .compression import PAPER_SECONDS_PER_VALUE, SCHEMES
from .data_parallel import matmul_efficiency

__all__ = ["matmul_report", "quantisation_report"]


def _check_result(name: str, value: object, key: str) -> dict:
    if not isinstance(value, dict) or not isinstance(value.get("machine"), dict) \
            or not value.get(key):
        raise TypeError(f"{name} must be a result of benchmarks/gpu_all.py (a dict with "
                        f"'machine' and '{key}') or None, got {type(value).__name__}")
    return value


def _fit_half_batch(batches: np.ndarray, flops: np.ndarray) -> float:
    """h of ``flops = peak * b / (b + h)``, peak the best rate: least squares, relative."""
    grid = np.logspace(-1, 5, 1200)
    misfit = [np.sum((flops.max() * matmul_efficiency(batches, h) / flops - 1) ** 2)
              for h in grid]
    return float(grid[int(np.argmin(misfit))])


def matmul_report(gpu: dict | None, cpu_batches: Sequence[int] | None = None,
                  cpu_flops: Sequence[float] | None = None) -> tuple:
    """The GPU's matmul throughput curves (``matmul_gpu.json``) beside the CPU's.

    ``gpu``: ``{"machine", "batch_sizes", "curves": [{"precision", "features",
    "flops"}]}`` or ``None``. ``cpu_batches``, ``cpu_flops``: this machine's curve
    (FLOP/s), drawn if given. The text lists each curve's best rate, its share of it at
    64 rows and the fitted half-batch ``h`` of ``b / (b + h)``. Returns
    ``(text, matplotlib figure or None)``.
    """
    if gpu is None:
        return pending_note("matmul_gpu"), None
    _check_result("gpu", gpu, "curves")
    batches = as_real_array("gpu['batch_sizes']", gpu.get("batch_sizes", []), minimum=1)
    if (cpu_batches is None) != (cpu_flops is None):
        raise ValueError("cpu_batches and cpu_flops must be given together (or neither)")
    import matplotlib.pyplot as plt

    label = result_label(gpu)
    lines = [f"(batch x features) @ (features x features) on {result_label(gpu, detail=True)}"]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for c in gpu["curves"]:
        flops = as_real_array("flops", c["flops"], minimum=0, strict_minimum=True)
        if flops.shape != batches.shape:
            raise ValueError(f"each curve's flops must have one value per batch size "
                             f"({batches.size}), got {flops.size}")
        share = flops / flops.max()
        at64 = np.interp(np.log(64), np.log(batches), share)
        lines.append(f"  {c['precision']:<5} features {c['features']:>5}: best "
                     f"{flops.max() / 1e12:7.2f} TFLOP/s, {at64:4.0%} of it at 64 rows, "
                     f"half-batch h = {_fit_half_batch(batches, flops):.0f}")
        ax.semilogx(batches, share, "o-", ms=4,
                    label=f"{c['precision']}, {c['features']} features ({label})")
    if cpu_batches is not None:
        cb = as_real_array("cpu_batches", cpu_batches, minimum=1)
        cf = as_real_array("cpu_flops", cpu_flops, minimum=0, strict_minimum=True)
        if cb.shape != cf.shape or cb.ndim != 1:
            raise ValueError("cpu_batches and cpu_flops must be 1-D and the same length")
        lines.append(f"  CPU (this machine): best {cf.max() / 1e9:.1f} GFLOP/s")
        ax.semilogx(cb, cf / cf.max(), "k--", label="CPU, this machine (measured now)")
    ax.axvline(64, color="gray", lw=0.8)
    ax.set(xlabel="batch size (rows of the product)", ylabel="share of the curve's best rate",
           title=f"Dense-layer throughput against batch: {label}", ylim=(0, 1.05))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return "\n".join(lines), fig


def quantisation_report(gpu: dict | None, cpu: dict | None = None) -> tuple:
    """GPU compression speed (``quantisation_gpu.json``) beside the CPU's and the paper's.

    ``gpu``: ``{"machine", "n_values", "schemes": {scheme:
    {"compress_seconds_per_value", "decompress_seconds_per_value"}}}`` or ``None``.
    ``cpu``: ``{scheme: (compress, decompress)}`` seconds per value measured here
    (:func:`course_utils.parallel.compression.time_quantisation` on NumPy). Returns
    ``(text, matplotlib figure or None)``.
    """
    if gpu is None:
        return pending_note("quantisation_gpu"), None
    _check_result("gpu", gpu, "schemes")
    if cpu is not None and (not isinstance(cpu, dict)
                            or any(np.shape(v) != (2,) for v in cpu.values())):
        raise TypeError("cpu must map each scheme to (compress, decompress) seconds per value")
    schemes = [s for s in SCHEMES if s in gpu["schemes"]]
    unknown = set(gpu["schemes"]) - set(SCHEMES)
    if unknown or not schemes:
        raise ValueError(f"gpu['schemes'] must name schemes of {SCHEMES}, got {sorted(unknown)}")
    import matplotlib.pyplot as plt

    label = result_label(gpu)
    gpu_ns = {s: (1e9 * gpu["schemes"][s]["compress_seconds_per_value"],
                  1e9 * gpu["schemes"][s]["decompress_seconds_per_value"]) for s in schemes}
    cpu_ns = {s: (1e9 * cpu[s][0], 1e9 * cpu[s][1]) for s in schemes if cpu and s in cpu}
    lines = [f"compress / decompress, ns per value, {gpu.get('n_values', '?')} values on "
             f"{result_label(gpu, detail=True)}",
             f"{'scheme':<19}{'GPU':>18}{'CPU (NumPy, here)':>22}"]
    for s in schemes:
        here = (f"{cpu_ns[s][0]:9.2f} / {cpu_ns[s][1]:7.2f}" if s in cpu_ns else "-")
        lines.append(f"{s:<19}{gpu_ns[s][0]:9.3f} / {gpu_ns[s][1]:6.3f}{here:>22}")
    paper = PAPER_SECONDS_PER_VALUE
    lines.append(f"paper (GTX Titan): {paper['compress'] * 1e9:g} / "
                 f"{paper['decompress'] * 1e9:g} ns per value")
    fig, ax = plt.subplots(figsize=(8, 4.2))
    x, width = np.arange(len(schemes)), 0.2
    bars = [(f"GPU compress ({label})", gpu_ns, 0), (f"GPU decompress ({label})", gpu_ns, 1),
            ("CPU compress (NumPy, here)", cpu_ns, 0), ("CPU decompress (NumPy, here)", cpu_ns, 1)]
    for k, (name, data, which) in enumerate(bars):
        if data:
            ax.bar(x + (k - 1.5) * width, [data.get(s, (np.nan, np.nan))[which] for s in schemes],
                   width, label=name)
    for key, style in (("compress", "-"), ("decompress", ":")):
        ax.axhline(paper[key] * 1e9, color="k", ls=style, lw=1,
                   label=f"paper, GTX Titan: {key}")
    ax.set_xticks(x, schemes)
    ax.set(yscale="log", ylabel="ns per value", title=f"Gradient compression speed: {label}")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return "\n".join(lines), fig
