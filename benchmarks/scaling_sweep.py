"""Time a sweep of 10^4 data-parallel configurations through the scaling model.

    python benchmarks/scaling_sweep.py [--configs 10000] [--repeats 5]

One network (ResNet-50, 161 layers, its DDP buckets) on the fitted Goyal et al. 2017
stack; the configurations vary the GPU count (1 ... 4096), the per-GPU batch (8 ... 256),
the MFU and the bandwidth fraction. The model is vectorised over configurations, so the
sweep is a few array operations per bucket. Prints the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from course_utils.parallel import networks, scaling, scaling_fit


def sweep(n: int, seed: int = 0) -> tuple[float, np.ndarray]:
    """Seconds for one sweep of ``n`` random configurations, and their efficiencies."""
    rng = np.random.default_rng(seed)
    scene = scaling_fit.scenarios()[scaling_fit.FIT_KEY]
    fitted = scaling_fit.fit_on_goyal()
    gpus = 2.0 ** rng.integers(0, 13, n)
    batch = 2.0 ** rng.integers(3, 9, n)
    achieved = scaling.Achieved(rng.uniform(0.2, 0.6, n), rng.uniform(0.1, 1.0, n),
                                reference_batch=fitted.reference_batch,
                                half_batch=fitted.half_batch)
    layers = networks.get("resnet50")
    start = time.perf_counter()
    result = scaling.scaling_efficiency(layers, gpus, scene.cluster, achieved,
                                        scaling="weak", batch=batch)
    return time.perf_counter() - start, result.efficiency


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    best = min(sweep(args.configs)[0] for _ in range(args.repeats))
    print(f"{args.configs} configurations in {best * 1e3:.1f} ms "
          f"({best / args.configs * 1e6:.2f} us each, best of {args.repeats})")
    return best


if __name__ == "__main__":
    main()
