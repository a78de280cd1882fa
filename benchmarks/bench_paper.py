"""Wall time of ``make paper``: cold, warm (nothing changed) and after editing one chapter's prose.

Usage::

    .venv/bin/python benchmarks/bench_paper.py [--keep-data]

Runs in a fresh clone-like copy of the project's tracked files (``git archive`` of HEAD
into a temporary folder, with the current venv and the synthetic data linked in when
``--keep-data``), so the project's own ``_book/`` and caches are untouched:

1. cold: empty caches and results; the synthetic data are built unless ``--keep-data``;
2. warm: the same command again, nothing changed;
3. prose: one sentence appended to ``chapters/background.qmd``; the build log must show
   that only that chapter was executed.

Budgets (issue 3): cold <= 15 min, warm <= 2 min on 2 cores. Also prints the size of
``_book/``.

``--inference`` instead measures what the inference adds (issue 5): two cold builds in
two fresh copies, ``paper --n-boot 0`` (both protocols, no bootstrap intervals, no tests
tables, no ground-truth check) and the default ``paper`` (1000 draws per area, tests,
ground truth), and prints both wall times and their difference.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def paper(clone: Path, env: dict[str, str], extra: tuple[str, ...] = ()) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv/bin/python"), "-W", "ignore", "-m", "analysis", "paper", "--quiet",
                           *extra], cwd=clone, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-5000:])
        raise SystemExit("make paper failed")
    return wall, proc.stdout + proc.stderr


def executed(log: str) -> list[str]:
    return re.findall(r"chapter (\S+): executed", log)


def fresh_copy(folder: Path, keep_data: bool) -> tuple[Path, dict[str, str]]:
    """``git archive`` of HEAD into ``folder``; the environment pointing every path into it."""
    clone = folder / "paper"
    clone.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(clone)], input=archive, check=True)
    env = {**os.environ, "PYTHONPATH": str(clone), "RSA_CACHE": str(clone / ".cache"),
           "RSA_RESULTS": str(clone / "results"), "RSA_DATA": str(clone / "data")}
    shared = ROOT.parent / "shared" / "checkpoints"  # the copy has no ../shared beside it
    if shared.is_dir() and "RSA_CHECKPOINTS" not in env:
        env["RSA_CHECKPOINTS"] = str(shared)
    if keep_data:
        (clone / "data").mkdir()
        (clone / "data" / "synthetic").symlink_to(ROOT / "data" / "synthetic")
    return clone, env


def inference_cost(tmp: Path, keep_data: bool) -> None:
    """Cold ``paper --n-boot 0`` vs cold ``paper`` (default inference), each in a fresh copy."""
    walls = {}
    for label, extra in (("no inference (--n-boot 0)", ("--n-boot", "0")), ("default inference", ())):
        clone, env = fresh_copy(tmp / label.split()[0], keep_data)
        walls[label], _ = paper(clone, env, extra)
        print(f"cold paper, {label:28s} {walls[label]:8.1f} s", flush=True)
    a, b = walls.values()
    print(f"inference adds {b - a:.1f} s ({100 * (b - a) / a:+.0f} %) to a cold `make paper` "
          f"(both protocols, 1000 draws, tests and ground truth); cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keep-data", action="store_true",
                   help="reuse the project's data/synthetic instead of building it (cold = analysis + book)")
    p.add_argument("--inference", action="store_true",
                   help="measure what the inference adds: cold `paper --n-boot 0` vs cold `paper`")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.inference:
            inference_cost(Path(tmp), args.keep_data)
            return
        clone, env = fresh_copy(Path(tmp), args.keep_data)
        rows = []
        wall, log = paper(clone, env)
        rows.append(("cold" + (" (data kept)" if args.keep_data else ""), wall, executed(log)))
        wall, log = paper(clone, env)
        rows.append(("warm (nothing changed)", wall, executed(log)))
        bg = clone / "chapters" / "background.qmd"
        bg.write_text(bg.read_text() + "\nOne more sentence of prose.\n")
        wall, log = paper(clone, env)
        rows.append(("one chapter's prose edited", wall, executed(log)))
        print(f"{'build':34s} {'wall s':>8s}  chapters executed")
        for label, wall, chapters in rows:
            print(f"{label:34s} {wall:8.1f}  {', '.join(chapters) or '-'}")
        print(f"_book/ size: {du_mb(clone / '_book'):.1f} MB; cores: {os.cpu_count()}")
        print("budgets: cold <= 900 s, warm <= 120 s")


if __name__ == "__main__":
    main()
