"""Command-line interface: ``python -m analysis <command> ...``.

Commands
--------
``synth``        build the embedded synthetic Brain Observatory (AllenSDK layout)
``run``          compute one stimulus x depth under one protocol ->
                 ``results/<source>/<stimulus>_<depth>[_corrected].csv`` (+ ``_tests.csv``)
``results``      ``run`` over a grid of stimuli x depths x protocols
``ground-truth`` plant a known layer in a synthetic area, recover it ->
                 ``results/<source>/ground_truth.csv``
``paper``        results of the grid under both protocols, the ground truth, then the
                 book (HTML + PDF) into ``_book/``
``book``         the book alone from existing result tables: ``chapters`` (execute the
                 result chapters only), ``render`` (Quarto or offline) or ``offline``
``checkpoints``  locate and verify the ten network checkpoints
``paths``        print where data, checkpoints, caches and results live

Environment variables: ``RSA_DATA``, ``RSA_CHECKPOINTS``, ``RSA_CACHE``,
``RSA_RESULTS`` (see :mod:`analysis.config`); ``RSA_DOWNLOAD=1`` is the same as
``--download``; ``RSA_DASK_SCHEDULER`` is the default of ``--dask``; ``RSA_OFFLINE=1``
is the same as the global ``--offline`` (no download of any kind; missing checkpoints are
otherwise downloaded by default); ``RSA_NET_TIMEOUT`` / ``RSA_NET_RETRIES``: see
:mod:`analysis.net`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Sequence

from . import config, protocols, study

EPILOG = """\
examples:
  python -m analysis synth
  python -m analysis run --stimulus natural_scenes --depth 175
  python -m analysis run --stimulus natural_scenes --depth 175 --protocol corrected --n-boot 0
  python -m analysis run --stimulus natural_movie_one --depth 275 --source allen --download
  python -m analysis results --stimuli natural_scenes natural_movie_one --depths 175 275 375
  python -m analysis results --protocols original corrected
  python -m analysis ground-truth
  python -m analysis book offline --stimuli natural_scenes --depths 175
  python -m analysis run --stimulus natural_movie_one --depth 175 --movie-bin 1 --jobs 2
  python -m analysis run --stimulus natural_scenes --depth 175 --dask tcp://scheduler:8786

environment: RSA_DATA (data root, default data/), RSA_CHECKPOINTS (checkpoint folder searched
first), RSA_CACHE (cache, default .cache/), RSA_RESULTS (tables, default results/),
RSA_DOWNLOAD=1 (allow downloads from the Allen Institute and the checkpoint host),
RSA_DASK_SCHEDULER (Dask scheduler address, the default of --dask), RSA_OFFLINE=1 (the same
as the global --offline: no downloads at all; otherwise missing checkpoints are downloaded
into checkpoints/ by default), RSA_NET_TIMEOUT (connect/read timeout in s, default 30),
RSA_NET_RETRIES (extra attempts, default 2).
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer seed >= 0 (numpy seeds are non-negative), got {value}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of workers (>= 1, or -1 = all cores), got {text!r}") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"expected a number of workers >= 1, or -1 = all cores; got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


#: Protocols and the default of ``--n-boot``, from the study's definitions (importing them
#: does not import torch, so parsing arguments stays fast).
PROTOCOLS: tuple[str, ...] = tuple(protocols.PROTOCOLS)
N_BOOT: int = study.N_BOOT


def _protocol(text: str) -> str:
    if text not in PROTOCOLS:
        raise argparse.ArgumentTypeError(f"unknown protocol {text!r}; valid protocols: {', '.join(PROTOCOLS)}")
    return text


def _add_inference_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-boot", type=_non_negative_int, default=None,
                   help=f"bootstrap draws for the 95%% intervals and the rat-vs-treeshrew tests "
                        f"(default {N_BOOT}, or 0 above 200 conditions, e.g. --movie-bin 1; "
                        f"0 = no inference: no intervals, no tests table)")


def _add_offline_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--offline", dest="forbid_downloads", action="store_true", default=argparse.SUPPRESS,
                   help="forbid every download (checkpoints, Allen data); same as RSA_OFFLINE=1")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    _add_offline_option(p)
    p.add_argument("--source", default="synthetic", choices=study.SOURCES,
                   help="data source: the embedded synthetic Brain Observatory (default) or real Allen data")
    p.add_argument("--cre-line", default=study.CRE_LINE, help=f"Cre line (default {study.CRE_LINE})")
    p.add_argument("--areas", nargs="+", default=list(study.AREAS), metavar="AREA",
                   help=f"visual areas (default: {' '.join(study.AREAS)})")
    p.add_argument("--seed", type=_seed, default=study.SEED, help=f"global seed (default {study.SEED})")
    p.add_argument("--movie-bin", type=_positive_int, default=study.CLIP_LEN,
                   help=f"movie frames averaged per condition (default {study.CLIP_LEN}: one 0.5-s clip)")
    p.add_argument("--n-brain-rdms", type=_positive_int, default=study.N_BRAIN_RDMS,
                   help=f"half-trial brain RDMs (default {study.N_BRAIN_RDMS})")
    p.add_argument("--n-splits", type=_positive_int, default=study.N_SPLITS,
                   help=f"noise-ceiling split halves (default {study.N_SPLITS})")
    _add_inference_options(p)
    p.add_argument("--checkpoints", nargs="+", default=None, metavar="NAME",
                   help="checkpoint names (default: all ten, e.g. rat1 ... ts5)")
    p.add_argument("--download", action="store_true", default=os.environ.get("RSA_DOWNLOAD") == "1",
                   help="allow downloads (Allen data, checkpoints) where the network exists")
    p.add_argument("--jobs", type=_jobs, default=None,
                   help="local worker processes for independent work (areas, checkpoints, scores); "
                        "-1 = all cores (default: all cores, as many as free memory allows; "
                        "1 = serial; the tables do not depend on it)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (tcp://host:8786): run the independent work on that "
                        "cluster through joblib's Dask backend (default: $RSA_DASK_SCHEDULER, else local)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--recompute", action="store_true",
                   help="recompute tables even when a run with the same settings, data, checkpoints and "
                        "code wrote them (the caches are still used)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also documents every command in ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="RSA of rat- and treeshrew-trained networks against mouse visual cortex.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--offline", dest="forbid_downloads", action="store_true",
                        help="forbid every download (checkpoints, Allen data); same as RSA_OFFLINE=1. "
                             "Also an option of run, results, paper and checkpoints")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("synth", help="build the embedded synthetic Brain Observatory")
    p.add_argument("--preset", default="default",
                   help="'default' (the real Cux2 survey's design, the paper's), 'compact' (the first, smaller "
                        "design) or 'small' (tests)")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default: all cores, memory permitting; the files do not depend on it)")
    p.add_argument("--seed", type=_seed, default=0, help="generator seed (default 0)")
    p.add_argument("--root", default=None, help="target folder (default: $RSA_DATA/synthetic)")
    p.add_argument("--depths", nargs="+", type=_positive_int, default=None, metavar="DEPTH",
                   help="imaging depths to simulate (default: the preset's, 175 275)")
    p.add_argument("--stimuli", nargs="+", default=None, metavar="STIMULUS",
                   help=f"natural stimuli to show (default: {' '.join(study.DEFAULT_STIMULI)}; "
                        f"any of {', '.join(study.STIMULUS_NAMES)})")
    p.add_argument("--force", action="store_true", help="rebuild even when the cache exists")

    p = sub.add_parser("calibrate", help="fit the synthetic survey's response model to the published noise "
                                         "ceilings (rewrites analysis/synthetic/surveys/<cre line>.model.json)")
    p.add_argument("--preset", default="default", help="a survey preset (default: 'default')")
    p.add_argument("--seed", type=_seed, default=0, help="generator seed (default 0, the paper's data)")
    p.add_argument("--cells", nargs="+", default=None, metavar="STIMULUS:DEPTH:AREA",
                   help="refit only these cells, e.g. natural_scenes:175:VISp (default: all 20 published ones)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")

    p = sub.add_parser("run", help="compute one stimulus x depth into a tidy table",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--stimulus", required=True, choices=study.STIMULUS_NAMES)
    p.add_argument("--depth", required=True, type=_positive_int, help="imaging depth in um (175, 275, ...)")
    p.add_argument("--protocol", type=_protocol, default=PROTOCOLS[0], metavar="PROTOCOL",
                   help=f"analysis protocol: {' or '.join(PROTOCOLS)} (see analysis.protocols)")
    _add_run_options(p)

    p = sub.add_parser("results", help="run a grid of stimuli x depths x protocols")
    p.add_argument("--stimuli", nargs="+", default=list(study.DEFAULT_STIMULI), metavar="STIMULUS")
    p.add_argument("--depths", nargs="+", type=_positive_int, default=list(study.DEFAULT_DEPTHS), metavar="DEPTH")
    p.add_argument("--protocols", nargs="+", type=_protocol, default=list(protocols.DEFAULT_PROTOCOLS),
                   metavar="PROTOCOL", help=f"protocols to run ({', '.join(PROTOCOLS)}; default "
                                            f"{' '.join(protocols.DEFAULT_PROTOCOLS)})")
    _add_run_options(p)

    p = sub.add_parser("ground-truth", help="plant a known layer in a synthetic area and check that it is recovered")
    p.add_argument("--source", default="synthetic", choices=study.SOURCES,
                   help="results folder to write ground_truth.csv into (the planted data are always synthetic)")
    p.add_argument("--seed", type=_seed, default=study.SEED, help=f"analysis seed (default {study.SEED})")
    _add_inference_options(p)
    p.add_argument("--force", action="store_true", help="recompute even when the table is up to date")

    p = sub.add_parser("identifiability", help="can this design tell the networks apart? plant every layer and "
                                               "each species' family in the realistic synthetic survey")
    p.add_argument("--source", default="synthetic", choices=study.SOURCES,
                   help="results folder to write the tables into (the planted data are always synthetic)")
    p.add_argument("--full", action="store_true",
                   help="the full grid: 1-8 containers and 20 replicates per drive (the book's: 2, 4, 8 and 6)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--force", action="store_true", help="recompute even when the tables are up to date")

    p = sub.add_parser("paper", help="compute the grid's results (both protocols), the ground truth and "
                                     "render the book into _book/")
    p.add_argument("--stimuli", nargs="+", default=list(study.DEFAULT_STIMULI), metavar="STIMULUS")
    p.add_argument("--depths", nargs="+", type=_positive_int, default=list(study.DEFAULT_DEPTHS), metavar="DEPTH")
    p.add_argument("--protocols", nargs="+", type=_protocol, default=list(protocols.DEFAULT_PROTOCOLS), metavar="PROTOCOL",
                   help=f"protocols to run (default: {' '.join(PROTOCOLS)}; the robustness chapter "
                        "compares them)")
    p.add_argument("--renderer", choices=("auto", "quarto", "offline"), default="auto",
                   help="auto: Quarto when `quarto` is on PATH, else the offline renderer (pandoc + Typst)")
    _add_run_options(p)

    p = sub.add_parser("book", help="build the book from existing result tables (no pipeline run)")
    p.add_argument("action", choices=("chapters", "render", "offline"), nargs="?", default="render",
                   help="chapters: execute the result chapters only; render: chapters + quarto (or the "
                        "offline renderer without quarto); offline: chapters + offline renderer")
    p.add_argument("--source", default="synthetic", choices=study.SOURCES)
    p.add_argument("--stimuli", nargs="+", default=list(study.DEFAULT_STIMULI), metavar="STIMULUS")
    p.add_argument("--depths", nargs="+", type=_positive_int, default=list(study.DEFAULT_DEPTHS), metavar="DEPTH")
    p.add_argument("--cre-line", default=study.CRE_LINE)
    p.add_argument("--seed", type=_seed, default=study.SEED)
    p.add_argument("--root", default=None, help="book root (default: the project)")

    p = sub.add_parser("checkpoints", help="locate and verify (SHA-256 of the bytes) the network checkpoints; "
                                           "missing ones are downloaded unless offline")
    p.add_argument("--download", action="store_true", default=os.environ.get("RSA_DOWNLOAD") == "1",
                   help="accepted for compatibility: checkpoints are downloaded by default")
    _add_offline_option(p)

    sub.add_parser("paths", help="print the configured folders")
    return parser


def _run_config(args: argparse.Namespace, stimulus: str, depth: int, protocol: str):
    from .pipeline import RunConfig

    return RunConfig(
        stimulus=stimulus, depth=depth, source=args.source, cre_line=args.cre_line,
        areas=tuple(args.areas), seed=args.seed, protocol=protocol, movie_bin=args.movie_bin,
        n_brain_rdms=args.n_brain_rdms, n_splits=args.n_splits,
        checkpoint_names=tuple(args.checkpoints) if args.checkpoints else None,
        download=args.download, n_boot=args.n_boot,
    )


def _protocols(args: argparse.Namespace) -> list[str]:
    """The protocols of a command, in the order given (repeats are refused by :func:`validate_args`)."""
    return list(getattr(args, "protocols", None) or [args.protocol])


def ensure_synthetic(depths: Sequence[int], stimuli: Sequence[str] = ()) -> None:
    """Build the synthetic cache when it is absent, or extend it to depths or stimuli it lacks."""
    from . import synthetic

    for d in depths:
        study.check_depth(d, "synthetic")
    synthetic.ensure_synthetic_cache(config.cache_dir("synthetic"), depths, stimuli=stimuli)


def _workers(args: argparse.Namespace) -> int:
    """Local workers of the run stages: ``--jobs``, else all cores as free memory allows."""
    from . import parallel, pipeline

    return parallel.local_jobs(args.jobs, pipeline.WORKER_BYTES)


def _cmd_run(args: argparse.Namespace, grid: Sequence[tuple[str, int]]) -> int:
    from . import pipeline

    # validate everything first; the original protocol of a cell first
    configs = [_run_config(args, s, d, p) for p in _protocols(args) for s, d in grid]
    from . import checkpoints  # located (downloaded unless offline) before any data is built

    checkpoints.locate_all(checkpoints.select_checkpoints(names=args.checkpoints))
    if args.source == "synthetic":
        ensure_synthetic(sorted({d for _, d in grid}), sorted({s for s, _ in grid}))
    jobs = _workers(args)
    for cfg in configs:
        t0 = time.perf_counter()
        path = pipeline.run(cfg, progress=not args.quiet, jobs=jobs, dask=args.dask, force=args.recompute)
        print(f"wrote {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_ground_truth(source: str, seed: int, n_boot: int, force: bool = False) -> int:
    from . import ground_truth

    t0 = time.perf_counter()
    path = ground_truth.write_ground_truth(source, seed=seed, n_boot=n_boot, force=force)
    print(f"ground truth: {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_identifiability(source: str, full: bool = False, jobs: int | None = None, force: bool = False) -> int:
    from . import identifiability

    t0 = time.perf_counter()
    out = identifiability.write_identifiability(source, identifiability.FULL if full else identifiability.DEFAULT,
                                                jobs=jobs, force=force)
    print(f"identifiability: {out['layers'].parent} ({time.perf_counter() - t0:.1f} s)")
    return 0


#: List options whose values must be distinct (``--areas VISp VISp`` would duplicate rows).
_LIST_OPTIONS: tuple[str, ...] = ("areas", "stimuli", "depths", "protocols", "checkpoints")


def validate_args(args: argparse.Namespace) -> None:
    """Everything checkable before any data is read: names, repeats, depths, folders.

    Raises ValueError naming the option and the bad value.
    """
    for name in _LIST_OPTIONS:
        values = getattr(args, name, None)
        if values:
            study.unique(f"--{name}", list(values))
    for s in getattr(args, "stimuli", None) or ([args.stimulus] if getattr(args, "stimulus", None) else []):
        study.get_stimulus(s)
    for a in getattr(args, "areas", None) or ():
        study.validate_choice("area", a, study.AREAS)
    if getattr(args, "cre_line", None):
        study.validate_choice("cre line", args.cre_line, study.CRE_LINES)
    source = getattr(args, "source", "synthetic")
    depths = getattr(args, "depths", None) or ([args.depth] if getattr(args, "depth", None) else [])
    for d in depths:
        study.check_depth(d, "synthetic" if args.command == "synth" else source)
    config.check_folders(write=args.command not in ("paths", "checkpoints"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status.

    One error boundary: every expected failure (bad value, missing or damaged file, network,
    unwritable folder) prints ``error: <what>`` and returns 2; ``--debug`` shows the traceback.
    """
    args = build_parser().parse_args(argv)
    if args.forbid_downloads:
        os.environ["RSA_OFFLINE"] = "1"
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted: nothing partial was written (every file is written atomically)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the error boundary: known failures become one line
        from .net import NetworkError

        expected = (ValueError, OSError, RuntimeError, LookupError, NetworkError)
        if args.debug or not isinstance(exc, expected):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    validate_args(args)
    if args.command == "synth":
        from . import synthetic

        for d in args.depths or ():
            study.check_depth(d, "synthetic")
        for name in args.stimuli or ():
            study.get_stimulus(name)
        root = config.cache_dir("synthetic") if args.root is None else args.root
        if config.manifest_path("synthetic").exists() and args.root is None and not args.force:
            print(f"synthetic cache exists at {root} (use --force to rebuild)")
            return 0
        path = synthetic.build_synthetic_cache(root, preset=args.preset, seed=args.seed, overwrite=args.force,
                                              depths=args.depths, stimuli=args.stimuli, jobs=args.jobs)
        print(f"wrote synthetic Brain Observatory to {path}")
        return 0
    if args.command == "calibrate":
        from .synthetic import calibrate

        cells = None
        if args.cells:
            cells = []
            for text in args.cells:
                parts = text.split(":")
                if len(parts) != 3 or not parts[1].isdigit():
                    raise ValueError(f"--cells takes STIMULUS:DEPTH:AREA (e.g. natural_scenes:175:VISp); got {text!r}")
                study.get_stimulus(parts[0])
                study.validate_choice("area", parts[2], study.AREAS)
                cells.append((parts[0], int(parts[1]), parts[2]))
        calibrate.fit_response_model(args.preset, args.seed, jobs=args.jobs, cells=cells)
        return 0
    if args.command == "run":
        return _cmd_run(args, [(args.stimulus, args.depth)])
    if args.command == "results":
        for s in args.stimuli:
            study.get_stimulus(s)
        return _cmd_run(args, [(s, d) for s in args.stimuli for d in args.depths])
    if args.command == "ground-truth":
        return _cmd_ground_truth(args.source, args.seed, N_BOOT if args.n_boot is None else args.n_boot,
                                 args.force)
    if args.command == "identifiability":
        return _cmd_identifiability(args.source, args.full, args.jobs, args.force)
    if args.command == "paper":
        from . import bookbuild, report

        t_start = time.perf_counter()
        grid = [(s, d) for s in args.stimuli for d in args.depths]
        report.book_spec(grid, args.source, args.cre_line, args.seed, require_results=False)
        _cmd_run(args, grid)
        if args.n_boot is None or args.n_boot:
            _cmd_ground_truth(args.source, args.seed, N_BOOT if args.n_boot is None else args.n_boot)
            _cmd_identifiability(args.source, jobs=args.jobs)
        else:
            print("--n-boot 0: no inference, so no ground-truth check and no identifiability study "
                  "(they need bootstrap draws)")
        res = bookbuild.render(**report.book_spec(grid, args.source, args.cre_line, args.seed),
                               offline={"auto": None, "quarto": False, "offline": True}[args.renderer])
        from . import cache

        print(f"\nthe paper: site {config.PROJECT_ROOT / '_book' / 'index.html'} ({len(res['pages'])} pages), "
              f"PDF {res['pdf']}\n  tables: {len(grid)} stimulus x depth cells x {len(_protocols(args))} "
              f"protocol(s) in {config.results_root() / args.source}\n  recomputed: {cache.summary()}"
              f"{' (in this process; its workers count their own)' if _workers(args) > 1 else ''}\n"
              f"  total time {time.perf_counter() - t_start:.0f} s")
        return 0
    if args.command == "book":
        from . import bookbuild, report

        spec = report.book_spec([(s, d) for s in args.stimuli for d in args.depths], args.source,
                                args.cre_line, args.seed)
        if args.action == "chapters":
            bookbuild.make_chapters(**spec, root=args.root)
            return 0
        res = bookbuild.render(**spec, root=args.root, offline=args.action == "offline" or None)
        print(f"pages: {len(res['pages'])}; pdf: {res['pdf']}")
        return 0
    if args.command == "checkpoints":
        from . import checkpoints

        entries = checkpoints.load_manifest()
        for entry, path in zip(entries, checkpoints.locate_all(entries)):
            print(f"{entry.name:5s} {entry.species:9s} seed {entry.seed}  ok  {path}")
        return 0
    if args.command == "paths":
        print(f"project      {config.PROJECT_ROOT}")
        print(f"data         {config.data_root()}")
        print(f"checkpoints  {' -> '.join(str(p) for p in config.checkpoint_search_dirs())}")
        print(f"cache        {config.work_cache_dir()}")
        print(f"results      {config.results_root()}")
        return 0
    return 1
