"""Benchmark of the synthetic Brain Observatory build (time, memory, disk) against its budgets.

Usage::

    python benchmarks/bench_synthetic.py                 # default preset, temp folder, removed after
    python benchmarks/bench_synthetic.py --preset small --ceilings --keep /tmp/synth
    python benchmarks/bench_synthetic.py --stimuli all   # every natural stimulus of the survey

Prints wall time, peak resident memory (this process and its children, from
``resource.getrusage``), size on disk, the budgets (default preset, the real survey's
design: <= 240 s, <= 2 GB; compact: <= 120 s, <= 500 MB), the containers / experiments / neurons per area and depth and, with
``--ceilings``, split-half noise ceilings of the original protocol (100 random
half splits of the trials, Kendall tau-a between the two halves' correlation-
distance RDMs, median and SD), read back through the AllenSDK.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import allen, config, study, synthetic  # noqa: E402

BUDGET_S = {"default": 240.0, "compact": 120.0, "small": 10.0}
BUDGET_MB = {"default": 2000.0, "compact": 500.0, "small": 50.0}
#: With every natural stimulus of the survey (Natural Movie Two and Three added).
BUDGET_ALL_S = {"default": 600.0, "compact": 300.0, "small": 30.0}
BUDGET_ALL_MB = {"default": 4000.0, "compact": 2500.0, "small": 150.0}


def disk_mb(root: Path) -> float:
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file()) / 1e6


def peak_rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, child_kb) / 1024


def _rdm(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(1, keepdims=True)
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    return 1 - (x @ x.T)[np.triu_indices(len(x), 1)]


def _tau_a(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum()
    tau_b = kendalltau(a[ok], b[ok])[0]  # equals tau-a without ties (continuous RDMs)
    return float(tau_b) if n > 1 else float("nan")


def tensors(boc, stimulus: str, area: str, depth: int) -> np.ndarray:
    """Original-protocol response tensor: scenes (50, 118, N); movie (10, 60, N)."""
    out = []
    for exp in allen.select_experiments(boc, stimulus, area, depth):
        s = allen.load_session(boc, exp.experiment_id, stimulus)
        t = s.stim_table
        if stimulus == "natural_scenes":
            t = t[t["frame"] >= 0]
            x = np.zeros((50, 118, s.events.shape[0]))
            seen = np.zeros(118, int)
            for frame, start in zip(t["frame"].values, t["start"].values):
                x[seen[frame], frame] = s.events[:, start:start + 15].sum(1)
                seen[frame] += 1
        else:
            x = s.events[:, t["start"].values].T.reshape(10, 900, -1).reshape(10, 60, 15, -1).mean(2)
        out.append(x)
    return np.concatenate(out, axis=2)


def ceilings(boc, stimulus, area, depth, n_splits=100, seed=study.SEED):
    x = tensors(boc, stimulus, area, depth)
    rng = np.random.default_rng(seed)
    t = x.shape[0]
    vals = []
    for _ in range(n_splits):
        p = rng.permutation(t)
        vals.append(_tau_a(_rdm(x[p[: t // 2]].mean(0)), _rdm(x[p[t // 2:]].mean(0))))
    return x.shape[2], float(np.nanmedian(vals)), float(np.nanstd(vals))


def counts(root: Path) -> list[tuple]:
    boc = allen.open_cache("synthetic", root)
    rows = []
    for area in study.AREAS:
        for depth in study.DEFAULT_DEPTHS:
            try:
                scenes = allen.select_experiments(boc, "natural_scenes", area, depth)
                movie = allen.select_experiments(boc, "natural_movie_one", area, depth)
            except ValueError:
                continue
            n_cells = lambda exps: sum(  # noqa: E731
                len(boc.get_ophys_experiment_data(e.experiment_id).get_cell_specimen_ids()) for e in exps)
            rows.append((area, depth, len({e.container_id for e in scenes}), len(scenes), n_cells(scenes),
                         len(movie), n_cells(movie)))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="default", choices=sorted(synthetic.PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep it (must not exist)")
    ap.add_argument("--ceilings", action="store_true", help="also compute split-half noise ceilings")
    ap.add_argument("--stimuli", nargs="+", default=None,
                    help="natural stimuli to build ('all' = every one of the survey; default: the original's two)")
    args = ap.parse_args(argv)
    stimuli = list(study.STIMULUS_NAMES) if args.stimuli == ["all"] else args.stimuli
    every = bool(stimuli) and set(stimuli) > set(study.DEFAULT_STIMULI)
    budget_s = (BUDGET_ALL_S if every else BUDGET_S)[args.preset]
    budget_mb = (BUDGET_ALL_MB if every else BUDGET_MB)[args.preset]

    work = Path(tempfile.mkdtemp(prefix="bench_synthetic_"))
    os.environ.setdefault("RSA_CACHE", str(work / "cache"))
    root = args.keep if args.keep else work / "synthetic"
    try:
        t0 = time.perf_counter()
        synthetic.build_synthetic_cache(root, preset=args.preset, seed=args.seed, progress=False, stimuli=stimuli)
        wall = time.perf_counter() - t0
        rss = peak_rss_mb()
        size = disk_mb(root)
        n_files = sum(1 for p in root.rglob("*") if p.is_file())
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"preset {args.preset}, seed {args.seed}, stimuli {', '.join(stimuli or study.DEFAULT_STIMULI)}; "
              f"{cpus} CPUs, load average {os.getloadavg()[0]:.2f}")
        print(f"build wall time  {wall:8.1f} s    budget <= {budget_s:.0f} s   {'OK' if wall <= budget_s else 'OVER'}")
        print(f"peak RSS         {rss:8.0f} MB")
        print(f"size on disk     {size:8.1f} MB   budget <= {budget_mb:.0f} MB  "
              f"{'OK' if size <= budget_mb else 'OVER'}   ({n_files} files)")
        tpl = root / "ophys_experiment_data" / f"{study.TEMPLATE_EXPERIMENT_ID}.nwb"
        print(f"  of which the template experiment's NWB  {tpl.stat().st_size / 1e6:.1f} MB")
        print("\narea   depth  containers  scenes: sessions/neurons  movie: sessions/neurons")
        for area, depth, nc, ns, cs, nm, cm in counts(root):
            print(f"{area:6s} {depth:5d}  {nc:10d}  {ns:9d} / {cs:5d}        {nm:8d} / {cm:5d}")
        if args.ceilings:
            boc = allen.open_cache("synthetic", root)
            print("\nsplit-half noise ceilings (tau-a, median +- SD over 100 splits)")
            for stimulus in study.STIMULUS_NAMES:
                for depth in study.DEFAULT_DEPTHS:
                    for area in study.AREAS:
                        try:
                            n, med, sd = ceilings(boc, stimulus, area, depth)
                        except ValueError:
                            continue
                        print(f"{stimulus:18s} {depth:4d} {area:6s} N={n:5d}  {med:.2f} +- {sd:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
