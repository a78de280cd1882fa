"""Cold vs warm cache: one ``python -m analysis run`` on an empty cache, then repeated on it.

Usage::

    .venv/bin/python benchmarks/bench_cache.py [--stimulus natural_scenes] [--depth 175] [--movie-bin 15]
                                              [--checkpoints rat1 ts1]

Each run is a fresh subprocess (``RSA_CACHE`` in a temporary folder); prints wall time and
peak RSS of both runs, the speed-up, the cache size, and whether the two tables are
byte-identical (they must be). Then a third run with another ``--seed`` shows what a
changed parameter costs (brain RDMs only; features and model RDMs come from the cache).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import timed  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stimulus", default="natural_scenes")
    p.add_argument("--depth", default="175")
    p.add_argument("--movie-bin", default="15")
    p.add_argument("--checkpoints", nargs="+", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RSA_CACHE": str(Path(tmp) / "cache"), "RSA_RESULTS": str(Path(tmp) / "results")}
        cmd = [sys.executable, "-m", "analysis", "run", "--stimulus", args.stimulus, "--depth", args.depth,
               "--movie-bin", args.movie_bin, "--quiet"]
        if args.checkpoints:
            cmd += ["--checkpoints", *args.checkpoints]
        table = Path(tmp) / "results" / "synthetic" / f"{args.stimulus}_{args.depth}.csv"
        cold, cold_mb = timed(cmd, env)
        first = table.read_bytes()
        warm, warm_mb = timed(cmd, env)
        same = table.read_bytes() == first
        size = sum(f.stat().st_size for f in (Path(tmp) / "cache").rglob("*") if f.is_file()) / 1e6
        seed, _ = timed(cmd + ["--seed", "7"], env)
        print(f"{args.stimulus} depth {args.depth} movie_bin {args.movie_bin}; load average {os.getloadavg()[0]:.2f}")
        print(f"cold  {cold:7.1f} s  peak {cold_mb:6.0f} MB")
        print(f"warm  {warm:7.1f} s  peak {warm_mb:6.0f} MB   speed-up {cold / warm:.1f}x; "
              f"tables byte-identical: {same}; cache {size:.0f} MB")
        print(f"--seed 7 on the warm cache (brain RDMs recomputed only): {seed:7.1f} s")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
