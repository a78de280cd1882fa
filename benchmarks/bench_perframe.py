"""Per-frame Natural Movie One (``--movie-bin 1``, 900 conditions): wall time and peak memory.

Usage::

    .venv/bin/python benchmarks/bench_perframe.py [--depth 175] [--jobs N] [--movie-bin 1] [--warm]

Runs ``python -m analysis run --stimulus natural_movie_one --depth D --movie-bin 1`` in a
fresh subprocess on an empty temporary cache (``RSA_CACHE``), with the run's defaults (all
five areas, all ten checkpoints, 100 brain RDMs, 100 noise-ceiling splits), and prints the
wall time, the peak resident memory of that process (``ru_maxrss`` of the child) and the
budgets of issue 4 (<= 600 s on 2 cores, <= 4 GB). ``--warm`` repeats the run on the filled
cache. The synthetic Brain Observatory must exist under ``$RSA_DATA`` (``python -m analysis
synth``; the default preset).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import ROOT  # noqa: E402


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, list[tuple[float, str]]]:
    """Run ``cmd`` in a new process: (wall s, peak RSS MB, CPU s user+system, stages).

    ``stages``: ``(seconds since start, message)`` of each progress line the run prints
    (model RDMs, then areas), so the output shows where the time goes. On a shared
    machine the CPU time shows the work done; wall time includes waiting for a core.
    """
    import subprocess
    import time

    wrapper = (
        "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
        "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print('PEAK_KB', r.ru_maxrss, 'CPU_S', r.ru_utime + r.ru_stime, file=sys.stderr); sys.exit(rc)"
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", wrapper, *cmd], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, stages = [], []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "model RDMs of" in line or "responses, brain RDMs" in line or line.startswith("wrote "):
            stages.append((time.perf_counter() - t0, line.strip()))
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc:
        sys.stderr.write("".join(lines[-40:]))
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    tail = "".join(lines).rsplit("PEAK_KB", 1)[1].split()
    return wall, int(tail[0]) / 1024, float(tail[2]), stages


BUDGET_S = 600.0
BUDGET_MB = 4096.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", default="175")
    p.add_argument("--movie-bin", default="1")
    p.add_argument("--jobs", default=None, help="worker processes (default: the CLI's own, all cores as memory allows)")
    p.add_argument("--warm", action="store_true", help="also time a second run on the filled cache")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more options for `run`")
    args = p.parse_args(argv)

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"natural_movie_one depth {args.depth}, movie_bin {args.movie_bin}, jobs {args.jobs}; "
          f"{cpus} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RSA_CACHE": str(Path(tmp) / "cache"), "RSA_RESULTS": str(Path(tmp) / "results")}
        cmd = [sys.executable, "-m", "analysis", "run", "--stimulus", "natural_movie_one", "--depth", args.depth,
               "--movie-bin", args.movie_bin, *(["--jobs", args.jobs] if args.jobs else []), *args.extra]
        for label in ("cold", "warm") if args.warm else ("cold",):
            wall, peak, cpu, stages = timed(cmd, env)
            for (t_a, what), (t_b, _) in zip(stages, stages[1:]):
                print(f"  {label} stage {t_b - t_a:7.1f} s: {what}", flush=True)
            within = wall <= BUDGET_S and peak <= BUDGET_MB
            ok &= within or label == "warm"
            print(f"{label}: wall {wall:7.1f} s (budget {BUDGET_S:.0f} s), CPU {cpu:7.1f} s, peak RSS "
                  f"{peak:6.0f} MB (budget {BUDGET_MB:.0f} MB)  {'OK' if within else 'OVER'}; "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)
        table = Path(tmp) / "results" / "synthetic" / f"natural_movie_one_{args.depth}.csv"
        if table.exists():
            import pandas as pd

            t = pd.read_csv(table, keep_default_na=False)
            print(f"table: {len(t)} rows, n_conditions {sorted(set(t.n_conditions))}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (cwd {ROOT})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
