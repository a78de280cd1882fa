"""Benchmark of the identifiability study (the chapter's tables) against its budget.

Usage::

    python benchmarks/bench_identifiability.py            # the book's design, fresh results folder
    python benchmarks/bench_identifiability.py --full     # the full grid of plants

Runs :func:`analysis.identifiability.write_identifiability` into a temporary results
folder (model RDMs come from the work cache: run after ``make paper`` to measure what the
chapter adds to a cold paper, whose model RDMs the result tables computed already) and
prints the wall time of each study, the peak resident memory (this process and its
workers) and the budget (<= 360 s on 2 cores for the book's design).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUDGET_S = 360.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args(argv)
    os.environ["RSA_RESULTS"] = tempfile.mkdtemp(prefix="bench_ident_")
    from analysis import identifiability as ident

    t0 = time.perf_counter()
    out = ident.write_identifiability("synthetic", ident.FULL if args.full else ident.DEFAULT, force=True,
                                      jobs=args.jobs)
    wall = time.perf_counter() - t0
    meta = json.loads(out["meta"].read_text())
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cpus} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"layer recovery {meta['seconds']['layers']:.0f} s, species recovery {meta['seconds']['species']:.0f} s")
    print(f"identifiability wall time {wall:.0f} s   budget <= {BUDGET_S:.0f} s   "
          f"{'OK' if wall <= BUDGET_S else 'OVER'}; peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
