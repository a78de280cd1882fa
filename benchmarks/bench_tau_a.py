"""Benchmark ``analysis.compare.tau_a`` against rsatoolbox 0.3.2's tau-a on the same data.

Run from the project root::

    .venv/bin/python benchmarks/bench_tau_a.py [--threads N] [--repeats R]

Cases (fixed seed): 1 model RDM vs 100 brain RDMs at 118 and at 900 conditions,
and 15 model RDMs vs 100 brain RDMs at 118 conditions, with categorical model RDMs
(2-3 levels, heavily tied); then 1 continuous model RDM (no ties, like per-frame
network RDMs) vs 100 brain RDMs at 900 conditions.  Brain RDMs are continuous with a
shared signal.  tau_a times are the best of ``--repeats`` calls after a warm-up (the
numba compile or cache load is timed separately, in the first call of the
process); rsatoolbox is timed once per case (it takes ~0.2 s per pair at 900
conditions).  Also prints the maximum |difference| from rsatoolbox and the
process CPU time of the timed tau_a call (all threads; on a shared machine it
shows how much of the wall time was spent waiting for a core).

The realistic scoring workload (``--realistic``, on by default; ``--no-realistic`` skips
it): 141 network RDMs (the pixel baseline and 14 layers x 10 networks) x 100 brain RDMs
of one area, at 118 and at 900 conditions, both sides continuous correlation-distance
RDMs (of low-rank features, and of noisy responses sharing them). rsatoolbox takes ~0.2 s
a pair at 900 conditions, so it is timed on a sample of ``--ref-pairs`` pairs and the ratio
is per pair (the maximum difference is over the sample). Where CUDA is present the
torch backend (:mod:`analysis.tau_torch`) is timed on the same workload too (its goal: the
900-condition workload of one area in under 5 s).

The load average (1 min) is printed at the start and at the end, with the threads used.
Total runtime: about 3-5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEED = 20240611


def make_rdms(n_cond: int, n_models: int, n_brains: int, rng: np.random.Generator, kind: str = "categorical"):
    """Model RDMs ``(n_models, m)`` (categorical or continuous) and continuous brain RDMs ``(n_brains, m)``."""
    iu = np.triu_indices(n_cond, k=1)  # rsatoolbox's vector order (row-major upper triangle)
    if kind == "continuous":  # e.g. per-frame network RDMs: no ties on either side
        models = rng.standard_normal((n_models, iu[0].size))
        return models, 0.3 * models[0] + rng.standard_normal((n_brains, iu[0].size))
    models = []
    for k in range(n_models):
        levels = 2 + k % 2  # 2 or 3 category levels
        cat = rng.integers(0, levels, n_cond)
        same = (cat[:, None] == cat[None, :]).astype(float)
        dist = 1.0 - same
        if levels == 3:  # graded: categories 0 and 2 further apart
            dist = np.abs(cat[:, None] - cat[None, :]).astype(float)
        models.append(dist[iu])
    models = np.array(models)
    signal = models[0]
    brains = 0.3 * signal + rng.standard_normal((n_brains, iu[0].size))
    return models, brains


def network_rdms(n_cond: int, n_models: int, n_brains: int, rng: np.random.Generator):
    """Continuous correlation-distance RDMs like the scoring's: ``(n_models, m)``, ``(n_brains, m)``."""
    from analysis.compare import correlation_rdms

    shared = rng.standard_normal((n_cond, 8))
    models = correlation_rdms(np.stack([shared @ rng.standard_normal((8, 64)) + rng.standard_normal((n_cond, 64))
                                        for _ in range(n_models)]))
    brains = correlation_rdms(np.stack([shared @ rng.standard_normal((8, 200)) + 3 * rng.standard_normal((n_cond, 200))
                                        for _ in range(n_brains)]))
    return models, brains


def _best(func, repeats: int) -> tuple[float, float, np.ndarray]:
    """Best wall time, process CPU time of that call (all threads), last result."""
    best, best_cpu = np.inf, np.inf
    result = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = func()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, best_cpu = wall, cpu
    return best, best_cpu, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="numba threads for tau_a (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="tau_a timing repeats")
    parser.add_argument("--realistic", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the realistic 141 x 100 workload (default: on)")
    parser.add_argument("--ref-pairs", type=int, default=20,
                        help="pairs of the realistic workload rsatoolbox is timed on (default 20)")
    args = parser.parse_args(argv)
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    t0 = time.perf_counter()
    import numba

    from analysis.compare import tau_a, tau_a_rsatoolbox

    t_import = time.perf_counter() - t0
    warm = np.random.default_rng(0).random((2, 45))
    t0 = time.perf_counter()
    tau_a(warm, warm, n_threads=args.threads)
    t_first = time.perf_counter() - t0
    threads = args.threads or numba.get_num_threads()
    print(f"numba {numba.__version__}, threads {threads}; import {t_import:.2f} s, "
          f"first call (compile or cache load) {t_first:.2f} s")

    rng = np.random.default_rng(SEED)
    cases = [(118, 1, 100, "categorical"), (900, 1, 100, "categorical"), (118, 15, 100, "categorical"),
             (900, 1, 100, "continuous")]
    header = (f"{'case':<40}{'rsatoolbox s':>13}{'tau_a s':>10}{'ratio':>8}"
              f"{'max |diff|':>12}{'tau_a cpu s':>13}")
    print(header)
    print("-" * len(header))
    worst = 0.0
    for n_cond, n_models, n_brains, kind in cases:
        models, brains = make_rdms(n_cond, n_models, n_brains, rng, kind)
        tau_a(models[:, :100], brains[:2, :100], n_threads=args.threads)  # warm-up
        t_fast, cpu_fast, fast = _best(lambda: tau_a(models, brains, n_threads=args.threads),
                             args.repeats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            ref = tau_a_rsatoolbox(models, brains)
            t_ref = time.perf_counter() - t0
        diff = float(np.max(np.abs(fast - ref)))
        worst = max(worst, diff)
        name = f"{n_models} {kind} model x {n_brains} brain, n={n_cond}"
        print(f"{name:<40}{t_ref:>13.3f}{t_fast:>10.3f}{t_ref / t_fast:>7.1f}x{diff:>12.1e}{cpu_fast:>13.3f}",
              flush=True)
    if args.realistic:
        worst = max(worst, realistic(args, rng))
    print(f"max |difference| from rsatoolbox over all cases: {worst:.1e}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other processes slow both sides)")
    return 0 if worst <= 1e-12 else 1


def realistic(args: argparse.Namespace, rng: np.random.Generator) -> float:
    """Time the 141 x 100 scoring workload (per pair against rsatoolbox on a sample); worst |diff|."""
    import numba

    from analysis.compare import _cuda_present, tau_a, tau_a_rsatoolbox

    threads = args.threads or numba.get_num_threads()
    print(f"\nrealistic workload: 141 network RDMs x 100 brain RDMs (numba threads {threads}; "
          f"CUDA {'present' if _cuda_present() else 'absent'})")
    header = (f"{'case':<30}{'rsatoolbox ms/pair':>19}{'numba s':>9}{'ms/pair':>9}{'ratio':>8}"
              f"{'max |diff|':>12}{'cpu s':>8}{'torch s':>9}")
    print(header)
    print("-" * len(header))
    worst = 0.0
    for n_cond in (118, 900):
        models, brains = network_rdms(n_cond, 141, 100, rng)
        t_fast, cpu_fast, fast = _best(lambda: tau_a(models, brains, n_threads=args.threads, backend="numba"),
                                       args.repeats if n_cond < 900 else 1)
        k = max(1, args.ref_pairs // 10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            ref = tau_a_rsatoolbox(models[:k], brains[:10])
            t_ref = (time.perf_counter() - t0) / ref.size
        diff = float(np.max(np.abs(fast[:k, :10] - ref)))
        worst = max(worst, diff)
        torch_s = "-"
        if _cuda_present():
            t_gpu, _, gpu = _best(lambda: tau_a(models, brains, backend="torch"), args.repeats)
            worst = max(worst, float(np.max(np.abs(gpu - fast))))
            torch_s = f"{t_gpu:.2f}"
        per_pair = t_fast / fast.size
        print(f"{f'141 x 100, n={n_cond}':<30}{1e3 * t_ref:>19.1f}{t_fast:>9.2f}{1e3 * per_pair:>9.2f}"
              f"{t_ref / per_pair:>7.1f}x{diff:>12.1e}{cpu_fast:>8.1f}{torch_s:>9}", flush=True)
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
