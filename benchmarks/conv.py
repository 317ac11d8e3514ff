"""Benchmark every 2-D convolution method of course_utils.conv, and torch, on this device.

Usage (from the repository root)::

    python benchmarks/conv.py                 # full run on this machine (GPU if there is one)
    python benchmarks/conv.py --tiny          # seconds: tiny sizes, every code path, no file
    python benchmarks/conv.py --out FILE.json # where to write (default: course_utils/data/)

For each problem and method it reports the time (s), GFLOP/s (direct-convolution FLOP
count, 2*N*K*C*R*S*P*Q, credited to every algorithm), effective GB/s (least DRAM
traffic, each tensor once, over the time) and the roofline bound of this device at the
problem's arithmetic intensity, from *measured* roofs: the copy bandwidth (bytes read
plus bytes written per second, STREAM's convention) and the fp32 matrix-multiply rate.

* **CPU** (no GPU): NumPy direct (``reference``), NumPy FFT (``reference_fft``) and
  torch's CPU conv2d; then the kernel-size sweep that finds where FFT convolution
  overtakes direct convolution. The Numba CUDA methods only run in the simulator there,
  where times mean nothing: they are run for correctness, not timed.
* **GPU**: the five Numba CUDA kernels and torch (cuDNN, TF32 off, cudnn.benchmark on),
  and the issue's targets: the tiled kernel on a 4096x4096 image with a 5x5 filter at
  >= 70% of the measured copy bandwidth and at least as fast as torch; the layer kernel
  (batch 32, 64->64 channels, 56x56, 3x3, padding 1) at >= 30% of cuDNN's fp32 rate.

Every timed output is checked against torch first. Results are JSON with the device,
date and package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from course_utils.core.provenance import cpu_name, run_metadata

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "course_utils" / "data"

# problem name -> (x shape, w shape, stride, padding)
PROBLEMS = {
    "image 4096x4096, 5x5 filter": ((1, 1, 4096, 4096), (1, 1, 5, 5), 1, 0),
    "layer N=32, 64->64, 56x56, 3x3": ((32, 64, 56, 56), (64, 64, 3, 3), 1, 1),
}
TINY_PROBLEMS = {
    "image 11x13, 5x5 filter": ((1, 1, 11, 13), (1, 1, 5, 5), 1, 0),
    "layer N=2, 2->3, 6x7, 3x3": ((2, 2, 6, 7), (3, 2, 3, 3), 1, 1),
}
# kernel-size sweeps for the direct-vs-FFT crossover: name -> (x shape, channels out)
SWEEPS = {
    "image 1024x1024, 1 channel": ((1, 1, 1024, 1024), 1),
    "layer N=8, 32->32, 64x64": ((8, 32, 64, 64), 32),
}
SWEEP_SIZES = list(range(3, 32, 2))
TINY_SWEEPS = {"image 16x16, 1 channel": ((1, 1, 16, 16), 1)}
TINY_SWEEP_SIZES = [1, 3, 5]
SINGLE_CHANNEL = ("naive", "tiled", "constant")
MAX_PLANE_LAUNCHES = 64  # single-channel kernels launch N*K*C times; skip beyond this


def _batch_seconds(fn, sync, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return time.perf_counter() - t0


def best_times(calls: dict, sync, *, rounds: int, min_seconds: float) -> dict:
    """Best time of one call (s) for each callable in ``calls`` (a dict).

    Each callable is warmed up and calibrated: calls are batched until a batch lasts
    ``min_seconds``. Then every callable is timed once per round, for ``rounds`` rounds,
    interleaved, and the fastest batch counts: on a shared machine a burst of someone
    else's work slows a few batches of every method rather than all batches of one.
    """
    inner, best = {}, {}
    for key, fn in calls.items():
        fn()
        sync()
        n = 1
        while True:
            elapsed = _batch_seconds(fn, sync, n)
            if elapsed >= min_seconds or n >= 1 << 16:
                break
            n *= 2
        inner[key], best[key] = n, elapsed / n
    for _ in range(rounds - 1):
        for key, fn in calls.items():
            best[key] = min(best[key], _batch_seconds(fn, sync, inner[key]) / inner[key])
    return best


class Runner:
    """Device-specific pieces: roofs, torch's conv2d, syncing, and the methods to time."""

    def __init__(self, tiny: bool, repeats: int, min_seconds: float) -> None:
        import torch

        from course_utils import select_device
        from course_utils.conv import METHODS

        self.info = select_device()
        self.torch = torch
        self.tiny, self.repeats, self.min_seconds = tiny, repeats, min_seconds
        self.gpu = not self.info.simulated and torch.cuda.is_available()
        if self.gpu:
            torch.backends.cudnn.allow_tf32 = False  # fp32 comparison: no TF32 tensor cores
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest algorithm
            self.torch_device = "cuda"
            self.methods = [m for m in METHODS if not m.startswith("reference")]
        else:
            self.torch_device = "cpu"
            self.methods = ["reference", "reference_fft"]
            if tiny:  # the CUDA kernels, in the simulator: correctness only
                self.methods += [m for m in METHODS if not m.startswith("reference")]

    def sync(self) -> None:
        if self.gpu:
            self.torch.cuda.synchronize()
            from course_utils.core import device

            device.cuda().synchronize()

    def device_description(self) -> str:
        if self.gpu:
            return self.torch.cuda.get_device_name(0)
        return f"{cpu_name()} ({os.cpu_count()} logical CPUs)"

    def roofs(self) -> dict:
        """Measured roofs: copy bandwidth (B/s, read + write) and fp32 GEMM rate (FLOP/s)."""
        torch = self.torch
        nbytes = (8 << 20) if self.tiny else (1 << 30 if self.gpu else 256 << 20)
        n = 256 if self.tiny else (8192 if self.gpu else 2048)
        dev = self.torch_device
        src = torch.ones(nbytes // 4, dtype=torch.float32, device=dev)
        dst = torch.empty_like(src)
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        calls = {"copy": lambda: dst.copy_(src), "mm": lambda: a @ b}
        if not self.gpu:  # on a CPU, NumPy's BLAS may be the faster matrix multiply
            an, bn = a.numpy(), b.numpy()
            calls["numpy mm"] = lambda: an @ bn
        t = best_times(calls, self.sync, rounds=self.repeats, min_seconds=self.min_seconds)
        t_copy, t_mm = t["copy"], min(v for k, v in t.items() if k != "copy")
        return {
            "copy_bytes": nbytes,
            "copy_bandwidth": 2 * nbytes / t_copy,
            "bandwidth_note": "bytes read + bytes written per second by a device-to-device "
                              "copy (torch Tensor.copy_), STREAM convention",
            "gemm_n": n,
            "peak_flops": 2 * n**3 / t_mm,
            "peak_note": f"fp32 {n}x{n} matrix multiply, measured (torch with TF32 off; "
                         "on a CPU the faster of torch and NumPy)",
        }

    def torch_conv(self, x, w, stride, padding):
        torch = self.torch
        xt = torch.from_numpy(x).to(self.torch_device)
        wt = torch.from_numpy(w).to(self.torch_device)

        def call():
            return torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding)

        return call, lambda: call().cpu().numpy()

    def method_call(self, method, x, w, stride, padding):
        """(timed callable, result getter) for one course_utils method."""
        from course_utils.conv import conv2d

        if method.startswith("reference") or not self.gpu:
            def call():
                return conv2d(x, w, stride=stride, padding=padding, method=method)

            return call, call
        from course_utils.conv.device_conv import DeviceConv

        dc = DeviceConv(method, x, w, stride=stride, padding=padding)
        return dc.run, lambda: (dc.run(), dc.result())[1]


def measure_problem(runner: Runner, name: str, spec, roofs: dict) -> dict:
    from course_utils.conv import arithmetic_intensity, attainable_flops, conv_flops, conv_min_bytes

    x_shape, w_shape, stride, padding = spec
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = (rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(np.float32)
    flops = conv_flops(x_shape, w_shape, stride=stride, padding=padding)
    nbytes = conv_min_bytes(x_shape, w_shape, stride=stride, padding=padding)
    intensity = arithmetic_intensity(x_shape, w_shape, stride=stride, padding=padding)
    bound = attainable_flops(intensity, roofs["peak_flops"], roofs["copy_bandwidth"])
    torch_call, torch_result = runner.torch_conv(x, w, stride, padding)
    expected = torch_result()
    scale = float(np.abs(expected).max()) or 1.0
    rows, calls = [], {}
    plane_launches = x_shape[0] * w_shape[0] * x_shape[1]
    for method in runner.methods + ["torch"]:
        row = {"method": method}
        rows.append(row)
        if method in SINGLE_CHANNEL and plane_launches > MAX_PLANE_LAUNCHES:
            row["skipped"] = (f"single-channel teaching kernel: N*K*C = {plane_launches} "
                              "launches; use 'layer'")
            continue
        if method == "torch":
            call, result = torch_call, torch_result
        else:
            call, result = runner.method_call(method, x, w, stride, padding)
        out = result()
        err = float(np.abs(out - expected).max())
        row["max_abs_error"] = err
        row["correct"] = bool(out.shape == expected.shape and err <= 1e-4 * scale + 1e-5)
        if not row["correct"]:  # report it, and do not time a wrong answer
            row["skipped"] = f"wrong result: max |error| {err:.3g} vs torch"
            print(f"WARNING: {method} on {name}: max |error| {err:.3g} vs torch")
            continue
        if runner.gpu or method.startswith("reference") or method == "torch":
            calls[method] = call
        else:
            row["not_timed"] = "Numba CUDA simulator: runs Python threads, times mean nothing"
    seconds = best_times(calls, runner.sync, rounds=runner.repeats,
                         min_seconds=runner.min_seconds)
    for row in rows:
        if row["method"] in seconds:
            t = seconds[row["method"]]
            row.update(seconds=t, gflops=flops / t / 1e9, gbps=nbytes / t / 1e9,
                       fraction_of_bound=flops / t / bound)
    return {"x_shape": x_shape, "w_shape": w_shape, "stride": stride, "padding": padding,
            "flops": flops, "min_bytes": nbytes, "intensity": intensity,
            "bound_flops": bound, "results": rows}


def best_roofs(a: dict, b: dict) -> dict:
    """The higher bandwidth and the higher FLOP rate of two roof measurements."""
    out = dict(a)
    out["copy_bandwidth"] = max(a["copy_bandwidth"], b["copy_bandwidth"])
    out["peak_flops"] = max(a["peak_flops"], b["peak_flops"])
    out["measurements"] = a.get("measurements", 1) + 1
    return out


def rebound(report: dict) -> None:
    """Recompute every problem's roofline bound and fractions with the final roofs."""
    from course_utils.conv import attainable_flops

    roofs = report["roofs"]
    for prob in report["problems"].values():
        prob["bound_flops"] = attainable_flops(prob["intensity"], roofs["peak_flops"],
                                               roofs["copy_bandwidth"])
        for row in prob["results"]:
            if "seconds" in row:
                row["fraction_of_bound"] = prob["flops"] / row["seconds"] / prob["bound_flops"]
    report["targets"] = check_targets(report["problems"], roofs, report["machine"]["kind"] == "gpu")


def check_targets(problems: dict, roofs: dict, gpu: bool) -> dict:
    """The issue's GPU targets, computed from the measurements (informative off a GPU)."""
    from course_utils.conv import GPU_TARGETS

    def row(prob, method):
        for r in problems[prob]["results"]:
            if r["method"] == method and "seconds" in r:
                return r
        return None

    image, layer = list(problems)
    out = {"meaningful": gpu}
    tiled, torch_img = row(image, "tiled"), row(image, "torch")
    if tiled and torch_img:
        frac = tiled["gbps"] * 1e9 / roofs["copy_bandwidth"]
        out["tiled_fraction_of_copy_bandwidth"] = frac
        out["tiled_speedup_vs_torch"] = torch_img["seconds"] / tiled["seconds"]
        out["tiled_target_met"] = bool(frac >= GPU_TARGETS["tiled_fraction_of_copy_bandwidth"]
                                       and tiled["seconds"] <= torch_img["seconds"])
    lay, torch_layer = row(layer, "layer"), row(layer, "torch")
    if lay and torch_layer:
        out["layer_fraction_of_torch"] = lay["gflops"] / torch_layer["gflops"]
        out["layer_target_met"] = bool(out["layer_fraction_of_torch"]
                                       >= GPU_TARGETS["layer_fraction_of_torch"])
    return out


def sweep(runner: Runner, name: str, x_shape, k_out: int, sizes) -> dict:
    """Time direct (NumPy), FFT (NumPy) and torch over kernel sizes; find the crossover."""
    from course_utils.conv import conv2d

    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    calls = {}
    for k in sizes:
        w = rng.standard_normal((k_out, x_shape[1], k, k), dtype=np.float32)
        for method in ("reference", "reference_fft"):
            calls[method, k] = lambda m=method, w=w: conv2d(x, w, method=m)
        calls["torch", k] = runner.torch_conv(x, w, 1, 0)[0]
    best = best_times(calls, runner.sync, rounds=runner.repeats, min_seconds=runner.min_seconds)
    times = {m: [best[m, k] for k in sizes] for m in ("reference", "reference_fft", "torch")}
    return {"x_shape": x_shape, "k_out": k_out, "kernel_sizes": list(sizes), "seconds": times,
            "crossover_vs_reference": crossover(sizes, times["reference"], times["reference_fft"]),
            "crossover_vs_torch": crossover(sizes, times["torch"], times["reference_fft"])}


def crossover(sizes, direct, fft) -> int | None:
    """Smallest kernel size from which FFT is faster than direct at every larger size."""
    found = None
    for k, d, f in zip(reversed(sizes), reversed(direct), reversed(fft), strict=True):
        if f < d:
            found = k
        else:
            break
    return found


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="tiny sizes, every code path, seconds (a smoke test)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default: course_utils/data/conv_benchmark_<cpu|gpu>"
                             ".json; --tiny writes nothing unless given)")
    parser.add_argument("--repeats", type=int, default=9,
                        help="rounds of interleaved timings; the fastest counts")
    parser.add_argument("--min-seconds", type=float, default=0.05)
    parser.add_argument("--no-sweep", action="store_true", help="skip the kernel-size sweep")
    args = parser.parse_args(argv)
    if args.tiny:
        args.repeats, args.min_seconds = 1, 0.0
    runner = Runner(args.tiny, args.repeats, args.min_seconds)
    started = time.time()
    load_before = os.getloadavg()
    roofs = runner.roofs()
    problems = {name: measure_problem(runner, name, spec, roofs)
                for name, spec in (TINY_PROBLEMS if args.tiny else PROBLEMS).items()}
    # On a shared machine one measurement of the roofs can be unlucky: measure them again
    # after the problems (and after the sweeps) and keep the best.
    roofs = best_roofs(roofs, runner.roofs())
    report = {
        "machine": {  # the shared block (course_utils.core.provenance), then conv's own
            **run_metadata(),
            "device": runner.device_description(),
            "kind": "gpu" if runner.gpu else "cpu",
            "kernels": runner.info.kernels,
            "torch_threads": runner.torch.get_num_threads(),
            "load_average_before": load_before,
        },
        "tiny": args.tiny,
        "roofs": roofs,
        "problems": problems,
        "targets": check_targets(problems, roofs, runner.gpu),
    }
    if not args.no_sweep and not runner.gpu:
        sizes = TINY_SWEEP_SIZES if args.tiny else SWEEP_SIZES
        report["sweeps"] = {name: sweep(runner, name, x_shape, k_out, sizes)
                            for name, (x_shape, k_out) in (TINY_SWEEPS if args.tiny
                                                           else SWEEPS).items()}
    if "sweeps" in report:
        report["roofs"] = best_roofs(report["roofs"], runner.roofs())
    rebound(report)
    report["machine"]["load_average_after"] = os.getloadavg()
    report["machine"]["benchmark_seconds"] = time.time() - started
    out = args.out
    if out is None and not args.tiny:
        out = DATA / f"conv_benchmark_{report['machine']['kind']}.json"
    if out is not None:
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    print_report(report)
    return report


def print_report(report: dict) -> None:
    m, roofs = report["machine"], report["roofs"]
    print(f"{m['device']} | kernels: {m['kernels']} | {m['date']}")
    print(f"roofs: copy {roofs['copy_bandwidth'] / 1e9:.1f} GB/s (read+write), "
          f"fp32 GEMM {roofs['peak_flops'] / 1e9:.1f} GFLOP/s")
    for name, prob in report["problems"].items():
        print(f"\n{name}: {prob['flops'] / 1e9:.3g} GFLOP, {prob['min_bytes'] / 1e6:.3g} MB, "
              f"{prob['intensity']:.1f} FLOP/B, bound {prob['bound_flops'] / 1e9:.1f} GFLOP/s")
        for r in prob["results"]:
            if "seconds" in r:
                print(f"  {r['method']:<14} {r['seconds'] * 1e3:10.3f} ms {r['gflops']:9.2f} "
                      f"GFLOP/s {r['gbps']:8.2f} GB/s  {100 * r['fraction_of_bound']:5.1f}% "
                      f"of bound  err {r['max_abs_error']:.1e}")
            else:
                note = r.get("skipped") or r.get("not_timed")
                print(f"  {r['method']:<14} {note}")
    print("\ntargets:", json.dumps(report["targets"]))
    for name, sw in report.get("sweeps", {}).items():
        print(f"\nsweep {name}: FFT beats NumPy direct from k = {sw['crossover_vs_reference']}, "
              f"beats torch from k = {sw['crossover_vs_torch']}")


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
