"""Wall time and peak memory of ``python -m analysis run`` (cold and warm cache).

Usage::

    .venv/bin/python benchmarks/bench_run.py [--stimulus S --depth D] [--pairs S:D ...] [--movie-bin B]

Each run is a fresh subprocess; "cold" uses an empty temporary cache (``RSA_CACHE``),
"warm" repeats the same command on the filled cache. Peak memory is the child's maximum
resident set size. The synthetic cache must exist (``python -m analysis synth``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd`` in a new process; (wall seconds, peak RSS in MB of that process)."""
    wrapper = (
        "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)"
    )
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    peak_kb = int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return wall, peak_kb / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", nargs="+", default=["natural_scenes:175", "natural_movie_one:275"],
                   help="stimulus:depth pairs to time")
    p.add_argument("--movie-bin", type=int, default=15)
    p.add_argument("--source", default="synthetic")
    args = p.parse_args()

    print(f"{'stimulus':18s} {'depth':>5s} {'cache':>5s} {'wall s':>8s} {'peak MB':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RSA_CACHE": str(Path(tmp) / "cache"), "RSA_RESULTS": str(Path(tmp) / "results")}
        for pair in args.pairs:
            stimulus, depth = pair.split(":")
            cmd = [sys.executable, "-m", "analysis", "run", "--stimulus", stimulus, "--depth", depth,
                   "--source", args.source, "--movie-bin", str(args.movie_bin), "--quiet"]
            for label in ("cold", "warm"):
                wall, peak = timed(cmd, env)
                print(f"{stimulus:18s} {depth:>5s} {label:>5s} {wall:8.1f} {peak:8.0f}", flush=True)
        print(f"(tables written under {tmp}/results, removed)")
    print(f"cores: {os.cpu_count()}, max RSS of this driver: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
