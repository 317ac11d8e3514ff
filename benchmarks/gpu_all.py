"""Every GPU measurement of the course in one run: under 8 minutes on a GPU machine.

Usage (from the repository root)::

    bash benchmarks/gpu_all.sh                  # on a GPU machine: course_utils/data/*_gpu.json
    python benchmarks/gpu_all.py --tiny         # any machine: every code path, tiny sizes,
                                                # written to a temporary folder
    python benchmarks/gpu_all.py --only copies  # one section, in this process
    python benchmarks/gpu_all.py --out-dir DIR  # write somewhere else

Sections, each run as its own process under a time budget (the budgets add up to less
than the 8 minutes, so the whole run does too); each writes one JSON file with the shared
``"machine"`` block of :func:`course_utils.core.provenance.run_metadata` (device, driver,
CUDA, cuDNN, NCCL, package versions, date; no host name):

* ``conv``: ``benchmarks/conv.py`` on the GPU: the five Numba CUDA kernels against cuDNN
  and the chapter's targets -> ``conv_benchmark_gpu.json``;
* ``copies``: host -> GPU and GPU -> host from pageable and from pinned memory, and GPU
  -> same GPU (and GPU 0 -> GPU 1 where there are two), 4 KiB to 256 MiB, CUDA events
  -> ``copies_gpu.json``;
* ``matmul``: the dense-layer product's FLOP/s against the batch size (1 to 8192 rows,
  1024 and 4096 features) in fp32, TF32 and BF16 -> ``matmul_gpu.json``;
* ``quantisation``: seconds per value to compress and decompress each 8-bit type and
  1-bit, on CUDA tensors, and whether the GPU's codes equal NumPy's
  -> ``quantisation_gpu.json``;
* ``ddp``: the digits trainer (``course_utils.parallel.train_ddp``) under ``torchrun``
  with NCCL on every GPU present (world size = GPUs), and NCCL all-reduce times
  -> ``ddp_nccl_gpu.json``.

``--tiny`` runs every section's code path at tiny sizes on whatever is there (on a CPU:
torch on the CPU, the Numba CUDA simulator, gloo with world size 1, and a host-memory
stand-in for the GPU copies); its files say ``"tiny": true`` and
:func:`course_utils.core.provenance.load_results` refuses them. Without a GPU and
without ``--tiny`` there is nothing to measure: the script says so and exits with 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "course_utils" / "data"
#: section -> (file name without .json, time budget in seconds)
SECTIONS = {
    "conv": ("conv_benchmark_gpu", 140),
    "copies": ("copies_gpu", 55),
    "matmul": ("matmul_gpu", 70),
    "quantisation": ("quantisation_gpu", 40),
    "ddp": ("ddp_nccl_gpu", 110),
}
TOTAL_BUDGET_S = 8 * 60
STARTUP_ALLOWANCE_S = 30  # this process: torch import and the GPU check
STOP_GRACE_S = 5  # a section over budget gets SIGTERM (torchrun stops its workers), then KILL
assert (sum(b + STOP_GRACE_S for _, b in SECTIONS.values()) + STARTUP_ALLOWANCE_S
        <= TOTAL_BUDGET_S)
NO_GPU = "no CUDA GPU: nothing to measure; use --tiny to exercise the code paths"


# --------------------------------------------------------------------------- sections
def conv_section(out: Path, tiny: bool, gpu: bool, deadline: float) -> None:
    """benchmarks/conv.py, writing its own file (same metadata block, its own layout)."""
    spec = importlib.util.spec_from_file_location("conv_benchmark", HERE / "conv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.run(["--out", str(out), *(["--tiny", "--no-sweep"] if tiny else [])])
    if gpu and report["machine"]["kind"] != "gpu":
        out.unlink(missing_ok=True)
        raise RuntimeError("torch sees a GPU but the Numba kernels ran in the simulator "
                           f"({report['machine']['kernels']}): is numba-cuda installed with "
                           "the CUDA runtime (pip install 'course-utils[colab]')?")


def _host_stand_in(direction, sizes, *, pinned, peer, repeats, iterations):
    """--tiny without a GPU: host memcpy in place of each GPU copy (code path only)."""
    from course_utils.systems import membw

    return membw.host_copy_bandwidth(sizes, repeats=repeats, min_seconds=0.0)


def copies_section(tiny: bool, gpu: bool, deadline: float) -> dict:
    import torch

    from course_utils.systems import membw

    peer = 1 if gpu and torch.cuda.device_count() >= 2 else None
    data = membw.measure_gpu_copies(
        [4096, 1 << 20] if tiny else membw.default_sizes(), peer=peer,
        repeats=2 if tiny else 5, iterations=2 if tiny else 10,
        timer=None if gpu else _host_stand_in)
    data["method"] = ("CUDA events around back-to-back Tensor.copy_ calls, the fastest of "
                      "several runs per size; bytes copied per second (each byte once)")
    if peer is not None:
        data["peer_access"] = bool(torch.cuda.can_device_access_peer(0, peer))
    if not gpu:
        data["stand_in"] = "no GPU: host memcpy timed in place of every series (--tiny)"
    return data


def matmul_section(tiny: bool, gpu: bool, deadline: float) -> dict:
    from course_utils.parallel.timing import MATMUL_PRECISIONS, matmul_throughput

    batches = [1, 8, 64] if tiny else [2**k for k in range(14)]  # 1 ... 8192 rows
    repeats, min_seconds = (2, 0.0) if tiny else (5, 0.02)
    curves, truncated = [], False
    for precision in MATMUL_PRECISIONS:
        for features in [32] if tiny else [1024, 4096]:
            if time.monotonic() > deadline:
                truncated = True
                break
            flops = matmul_throughput(batches, features, device="cuda" if gpu else "cpu",
                                      repeats=repeats, min_seconds=min_seconds,
                                      precision=precision)
            curves.append({"precision": precision, "features": features, "flops": flops})
    return {"batch_sizes": batches, "curves": curves, "truncated": truncated,
            "method": "(batch x features) @ (features x features), 2*b*f^2 FLOP per product; "
                      f"best of {repeats} runs of at least {min_seconds * 1e3:g} ms "
                      "(course_utils.parallel.timing.matmul_throughput)"}


def quantisation_section(tiny: bool, gpu: bool, deadline: float) -> dict:
    import numpy as np
    import torch

    from course_utils.parallel import compression as C

    n, repeats = (1 << 12, 1) if tiny else (1 << 24, 10)
    x = torch.randn(n, generator=torch.Generator().manual_seed(0))
    xd = x.to("cuda" if gpu else "cpu")
    schemes = {}
    for scheme in C.SCHEMES:
        comp, decomp = C.time_quantisation(xd, scheme, repeats=repeats)
        row = {"compress_seconds_per_value": comp, "decompress_seconds_per_value": decomp}
        head, head_np = xd[:65536], x[:65536].numpy()
        if scheme == "1bit":
            same = C.onebit_quantize(head)[0].cpu().numpy() == C.onebit_quantize(head_np)[0]
        else:
            same = C.quantize_8bit(head, scheme)[0].cpu().numpy() == \
                C.quantize_8bit(head_np, scheme)[0]
        row["codes_equal_to_numpy"] = float(np.mean(same))
        schemes[scheme] = row
    return {"n_values": n, "dtype": "float32", "schemes": schemes,
            "method": f"course_utils.parallel.compression.time_quantisation: best of {repeats} "
                      "synchronised calls after a warm-up; codes compared with NumPy's on "
                      f"the first {min(n, 65536)} values"}


def ddp_section(tiny: bool, gpu: bool, deadline: float) -> dict:
    import torch

    from course_utils.core.launchers import launch, torchrun
    from course_utils.parallel import costs

    world = torch.cuda.device_count() if gpu else 1
    backend = "nccl" if gpu else "gloo"
    args = ["--backend", backend, "--dtype", "float32", "--batch-size", str(16 * world),
            "--epochs", "1" if tiny else "10"]
    with tempfile.TemporaryDirectory(prefix="gpu_all_ddp_") as tmp:
        summary = Path(tmp) / "train.json"
        t0 = time.monotonic()
        proc = torchrun([*args, "--out", str(summary)], nprocs=world, timeout=60)
        wall = time.monotonic() - t0
        if proc.returncode != 0 or not summary.exists():
            raise RuntimeError(f"torchrun train_ddp failed (exit {proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}")
        trainer = json.loads(summary.read_text())
    if trainer["backend"] != backend or trainer["world_size"] != world:
        raise RuntimeError(f"trainer ran {trainer['backend']} x {trainer['world_size']}, "
                           f"expected {backend} x {world}")
    trainer["wall_seconds_with_startup"] = wall
    trainer["steps_per_second"] = trainer["steps_run"] / trainer["train_seconds"]
    sizes = [4096, 65536] if tiny else [4096 * 4**k for k in range(9)]  # 4 KiB ... 256 MiB
    (allreduce,) = launch("torch", "course_utils.parallel.timing",
                          ["--backend", backend, "--repeats", "3" if tiny else "20",
                           "--sizes", *map(str, sizes)], nprocs=world, timeout=50)
    allreduce["algbw_bytes_per_second"] = [
        float(costs.algorithm_bandwidth(n, t))
        for n, t in zip(allreduce["nbytes"], allreduce["low_seconds"], strict=True)]
    allreduce["busbw_bytes_per_second"] = [
        float(costs.bus_bandwidth(n, t, world))
        for n, t in zip(allreduce["nbytes"], allreduce["low_seconds"], strict=True)]
    return {"world_size": world, "backend": backend, "trainer": trainer,
            "trainer_args": args, "allreduce": allreduce,
            "method": "torchrun --standalone --nproc_per_node=<GPUs>: "
                      "course_utils.parallel.train_ddp (digits MLP, float32) and "
                      "course_utils.parallel.timing (all-reduce, 10th percentile of samples)"}


SECTION_FUNCTIONS = {"copies": copies_section, "matmul": matmul_section,
                     "quantisation": quantisation_section, "ddp": ddp_section}


# --------------------------------------------------------------------------- driver
def run_section(name: str, out_dir: Path, tiny: bool, gpu: bool) -> Path:
    """Run one section in this process; return the file it wrote."""
    from course_utils.core.provenance import run_metadata

    stem, budget = SECTIONS[name]
    out = out_dir / f"{stem}.json"
    started = time.monotonic()
    deadline = started + 0.8 * budget  # soft: a section stops adding measurements here
    if name == "conv":
        conv_section(out, tiny, gpu, deadline)
        return out
    payload = SECTION_FUNCTIONS[name](tiny, gpu, deadline)
    result = {"name": stem, "machine": run_metadata(), "tiny": tiny, **payload,
              "budget_seconds": budget, "section_seconds": time.monotonic() - started}
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(out)  # a section that fails leaves the previous file as it was
    print(f"[{name}] wrote {out} in {result['section_seconds']:.1f} s", flush=True)
    return out


def _stop_group(child: subprocess.Popen) -> None:
    """SIGTERM to the section's process group (torchrun passes it to its workers, which
    run in sessions of their own), a grace period, then SIGKILL to whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if sig == signal.SIGTERM and child.poll() is not None:
            continue  # it finished by itself
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
    child.wait()


def run_all(out_dir: Path, tiny: bool) -> int:
    """Every section as a child process with its time budget; 0 if all wrote their file."""
    failed, t_all = [], time.monotonic()
    for name, (stem, budget) in SECTIONS.items():
        cmd = [sys.executable, str(Path(__file__).resolve()), "--only", name,
               "--out-dir", str(out_dir), *(["--tiny"] if tiny else [])]
        print(f"== {name} (budget {budget} s) ==", flush=True)
        t0, started = time.monotonic(), time.time()
        # its own process group, so that a timeout also stops what it started (torchrun)
        child = subprocess.Popen(cmd, start_new_session=True)
        try:
            code = child.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            code = f"timed out after {budget} s"
        finally:  # timed out or interrupted: stop the section and what it started
            _stop_group(child)
        seconds = time.monotonic() - t0
        out = out_dir / f"{stem}.json"
        wrote = out.exists() and out.stat().st_mtime >= started - 1  # not an older file
        if code != 0 or not wrote:
            failed.append(name)
            print(f"== {name}: FAILED ({code}) after {seconds:.0f} s", flush=True)
        else:
            print(f"== {name}: {out} in {seconds:.0f} s", flush=True)
    print(f"\nall sections: {time.monotonic() - t_all:.0f} s; "
          + (f"failed: {', '.join(failed)}" if failed else "every file written")
          + f"\nresults in {out_dir}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="tiny sizes on any machine: every code path, seconds, no "
                             "measurement (default output: a new temporary folder)")
    parser.add_argument("--only", choices=tuple(SECTIONS), default=None,
                        help="run this one section, in this process")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where the JSON files go (default: course_utils/data; with "
                             "--tiny a temporary folder)")
    args = parser.parse_args(argv)
    import torch

    gpu = torch.cuda.is_available()
    if not gpu and not args.tiny:
        print(NO_GPU, file=sys.stderr)
        return 1
    out_dir = args.out_dir
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="gpu_all_tiny_")) if args.tiny else DATA
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.only:
        run_section(args.only, out_dir, args.tiny, gpu)
        return 0
    return run_all(out_dir, args.tiny)


if __name__ == "__main__":
    sys.exit(main())
