"""Wall time that inference (bootstrap intervals + species tests) adds to ``python -m analysis run``.

Usage::

    .venv/bin/python benchmarks/bench_inference.py [--pair natural_scenes:175]
        [--protocols original corrected] [--n-boot 1000] [--checkpoints rat1 ts1 ...]

For each protocol, in fresh subprocesses: ``run --n-boot 0`` (no inference) on an empty
cache, ``run --n-boot N`` (default 1000) on another empty cache, then the same command
again on that filled cache ("warm": the bootstrap draws are cached). The difference
of the two cold runs is the time inference adds to a cold ``make paper`` cell; the warm
run shows what it costs once cached. Data: ``$RSA_DATA/synthetic`` (the default synthetic
Brain Observatory; build it with ``python -m analysis synth``). Peak memory is the
child's maximum resident set size.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import timed  # noqa: E402  (same directory)

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pair", default="natural_scenes:175", help="stimulus:depth to time")
    p.add_argument("--protocols", nargs="+", default=["original", "corrected"])
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws of the inference run")
    p.add_argument("--checkpoints", nargs="+", default=None, help="checkpoint names (default: all ten)")
    args = p.parse_args()

    stimulus, depth = args.pair.split(":")
    data = Path(os.environ.get("RSA_DATA", ROOT / "data")) / "synthetic" / "manifest.json"
    if not data.is_file():
        raise SystemExit(f"{data} is missing: build the synthetic data with `python -m analysis synth`")
    print(f"{stimulus} {depth} um, synthetic data at {data.parent}, n_boot {args.n_boot}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'protocol':10s} {'run':>16s} {'wall s':>8s} {'peak MB':>8s}")
    for protocol in args.protocols:
        base = [sys.executable, "-m", "analysis", "run", "--stimulus", stimulus, "--depth", depth,
                "--protocol", protocol, "--quiet"]
        if args.checkpoints:
            base += ["--checkpoints", *args.checkpoints]
        walls = {}
        with tempfile.TemporaryDirectory() as tmp:
            for label, n_boot, cache in (("cold, n_boot 0", 0, "a"), (f"cold, n_boot {args.n_boot}", args.n_boot, "b"),
                                         (f"warm, n_boot {args.n_boot}", args.n_boot, "b")):
                env = {**os.environ, "RSA_CACHE": str(Path(tmp) / cache), "RSA_RESULTS": str(Path(tmp) / "results")}
                wall, peak = timed([*base, "--n-boot", str(n_boot)], env)
                walls[label] = wall
                print(f"{protocol:10s} {label:>16s} {wall:8.1f} {peak:8.0f}", flush=True)
        cold = list(walls.values())
        print(f"{protocol:10s} {'inference adds':>16s} {cold[1] - cold[0]:8.1f} s cold "
              f"({(cold[1] - cold[0]) / cold[0]:+.0%})", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other jobs on the machine inflate wall times)")


if __name__ == "__main__":
    main()
