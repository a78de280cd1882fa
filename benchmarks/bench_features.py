"""Throughput of feature extraction: 60 movie clips x one checkpoint, all 14 layers.

Usage::

    python benchmarks/bench_features.py [--checkpoint rat1] [--batch-size 8] [--clips 60]
                                        [--devices cpu,cuda] [--threads N]

Prints, per device: wall time, clips per second, and peak memory (process peak RSS on the
CPU; ``torch.cuda.max_memory_allocated`` on CUDA). The clips come from a random uint8
"movie" of Natural Movie One's shape (900 x 304 x 608); the network cost does not depend on
the pixel values. Nothing is cached.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import checkpoints as C  # noqa: E402
from analysis import features, models, study  # noqa: E402


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="rat1")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--clips", type=int, default=60, help="number of 15-frame movie clips (max 60)")
    ap.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda is skipped when absent")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    entry = C.get_entry(args.checkpoint)
    mean, std = C.normalisation(entry)
    n_frames = 15 * max(1, min(args.clips, 60))
    movie = np.random.default_rng(study.SEED).integers(0, 256, size=(n_frames, 304, 608), dtype=np.uint8)
    t0 = time.perf_counter()
    clips = features.make_clips(movie, "natural_movie_one")
    t_clips = time.perf_counter() - t0
    print(f"torch {torch.__version__}; CPU threads {torch.get_num_threads()}; checkpoint {entry.name}; "
          f"clips {tuple(clips.shape)}; batch size {args.batch_size}; layers {len(study.LAYERS)}")
    print(f"make_clips ({n_frames} frames 304x608 -> 64x64): {t_clips:.2f} s")

    for name in [d.strip() for d in args.devices.split(",") if d.strip()]:
        if name == "cuda" and not torch.cuda.is_available():
            print("cuda: not available, skipped")
            continue
        dev = torch.device(name)
        net = models.load_network(entry, dev)
        # warm-up (allocator, cuDNN autotuning) on one batch
        features.extract_features(net, clips[: args.batch_size], mean, std, batch_size=args.batch_size, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = features.extract_features(net, clips, mean, std, batch_size=args.batch_size, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        if dev.type == "cuda":
            peak = f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
        else:
            peak = f"peak RSS {_peak_rss_mib():.0f} MiB"
        n_feat = sum(v.shape[1] for v in out.values())
        print(f"{dev}: {clips.shape[0]} clips in {wall:.2f} s = {clips.shape[0] / wall:.2f} clips/s; "
              f"{peak}; {n_feat} features per clip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
