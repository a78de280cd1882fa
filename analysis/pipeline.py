"""One stimulus x depth, end to end: recordings and networks -> a tidy table.

The straight line of the study::

    recordings -> response tensors -> brain RDMs, noise ceilings   (per area)
    stimuli    -> clips -> network features -> model RDMs          (per checkpoint, layer)
    model RDMs x brain RDMs -> tau-a scores -> tidy table + provenance

:func:`run` writes ``results/<source>/<stimulus>_<depth>.csv`` (one row per area x
checkpoint x layer, plus a pixel-baseline row and a noise-ceiling row per area) and a
provenance JSON beside it. Both are written atomically. Expensive steps are cached
on disk (:mod:`analysis.cache`) under keys derived from file contents, parameters
and code versions, so a second identical run is fast and bit-identical.

What each cached step depends on (a changed parameter recomputes only its dependants):

* ``responses``: NWB file hashes, stimulus, experiments; the movie is cached at frame
  level and binned to ``movie_bin`` conditions after loading (not keyed on seed,
  movie_bin or checkpoints);
* ``brain_rdms`` (and noise ceilings): responses key, seed, movie_bin, n_brain_rdms,
  n_splits, labels (not checkpoints);
* ``stimuli``: the 64x64 frames, keyed on the template's content hash;
* ``features``: checkpoint SHA-256, clips, layers - for the clip-averaged protocol only
  (per-frame features, ~0.9 GB per checkpoint, are not cached);
* ``model_rdms``: checkpoint SHA-256, clips, layers, movie_bin when not 15 (not seed,
  areas, depth).

Independent work (areas, checkpoints, per-area scores) goes through
:func:`analysis.parallel.map_tasks`: serial by default, local processes with
``jobs > 1``, a Dask cluster with a scheduler address; the table is identical.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import allen, cache, checkpoints, compare, config, features, fileio, parallel, rdm, responses

log = logging.getLogger(__name__)

PROTOCOLS: tuple[str, ...] = ("original",)

#: Columns of the tidy result table, in order.
COLUMNS: tuple[str, ...] = (
    "source", "stimulus", "depth", "cre_line", "area", "row_type", "species", "seed",
    "checkpoint", "layer", "pathway", "score", "score_sd", "n_conditions", "n_neurons",
    "n_experiments",
)

#: Packages whose versions go into the provenance.
PROVENANCE_PACKAGES: tuple[str, ...] = (
    "allensdk", "numpy", "scipy", "pandas", "torch", "rsatoolbox", "numba", "h5py", "pynwb",
)


@dataclass(frozen=True)
class RunConfig:
    """Parameters of one run (validated on construction).

    ``movie_bin`` is the number of movie frames averaged into one condition (15 in
    the original: 60 conditions of 0.5 s). ``n_brain_rdms`` and ``n_splits`` are the
    numbers of half-trial brain RDMs and of split-half noise-ceiling draws.
    """

    stimulus: str
    depth: int
    source: str = "synthetic"
    cre_line: str = config.CRE_LINE
    areas: tuple[str, ...] = config.AREAS
    seed: int = config.SEED
    protocol: str = "original"
    movie_bin: int = responses.MOVIE_BIN
    n_brain_rdms: int = 100
    n_splits: int = 100
    checkpoint_names: tuple[str, ...] | None = None
    download: bool = False

    def __post_init__(self) -> None:
        config.validate_choice("stimulus", self.stimulus, config.STIMULI)
        config.validate_choice("source", self.source, config.SOURCES)
        config.validate_choice("cre line", self.cre_line, config.CRE_LINES)
        config.validate_choices("area", list(self.areas), config.AREAS)
        config.validate_choice("protocol", self.protocol, PROTOCOLS)
        if not isinstance(self.depth, (int, np.integer)) or self.depth <= 0:
            raise ValueError(f"depth must be a positive integer (um); got {self.depth!r}")
        if self.movie_bin < 1 or responses.N_MOVIE_FRAMES % self.movie_bin:
            divisors = [d for d in range(1, 901) if 900 % d == 0]
            raise ValueError(f"movie_bin must divide 900; got {self.movie_bin}; valid: {divisors}")
        for name in ("n_brain_rdms", "n_splits"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")


# --------------------------------------------------------------------------------------
# Brain side
# --------------------------------------------------------------------------------------


@dataclass
class AreaData:
    """Pooled responses of one area: ``responses`` ``(trials, conditions, neurons)``."""

    area: str
    experiments: list[allen.Experiment]
    responses: np.ndarray | None
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.responses is not None:
            self.shape = tuple(int(x) for x in self.responses.shape)

    def slim(self) -> "AreaData":
        """A copy without the response tensor (its shape kept), for passing between workers."""
        return AreaData(self.area, self.experiments, None, self.fingerprint, dict(self.extra), self.shape)


def movie_bin_of(cfg: RunConfig) -> int | None:
    """Frames per movie condition, ``None`` for the scenes or the original 15 (clip average)."""
    if cfg.stimulus != "natural_movie_one" or cfg.movie_bin == features.CLIP_LEN:
        return None
    return int(cfg.movie_bin)


def session_responses(session: allen.Session, cfg: RunConfig) -> np.ndarray:
    """Response tensor of one session under the run's protocol."""
    if cfg.stimulus == "natural_scenes":
        return responses.scene_responses(session.events, session.stim_table)
    return responses.movie_responses(session.events, session.stim_table, movie_bin=cfg.movie_bin)


def area_responses(boc: Any, cfg: RunConfig, area: str) -> AreaData:
    """Select an area's experiments and pool their responses (cached on file contents).

    The movie is cached at frame level ``(trials, 900, neurons)`` (independent of
    ``movie_bin``) and binned after loading, which equals binning each session
    (:func:`analysis.responses.movie_responses`): block means along conditions commute
    with concatenation along neurons.
    """
    experiments = allen.select_experiments(boc, cfg.stimulus, area, int(cfg.depth), cfg.cre_line)
    prints = [allen.experiment_fingerprint(boc, e.experiment_id) for e in experiments]
    movie = cfg.stimulus == "natural_movie_one"
    parts = {
        "stimulus": cfg.stimulus, "protocol": cfg.protocol,
        "experiments": [e.experiment_id for e in experiments], "files": prints,
    }
    if movie:
        parts["frames"] = responses.N_MOVIE_FRAMES

    def compute() -> dict[str, np.ndarray]:
        tensors = []
        for e in experiments:
            session = allen.load_session(boc, e.experiment_id, cfg.stimulus)
            if movie:
                tensors.append(responses.movie_frame_responses(session.events, session.stim_table))
            else:
                tensors.append(session_responses(session, cfg))
        return {"responses": responses.pool_neurons(tensors)}

    data = cache.get_or_compute("responses", parts, compute)["responses"]
    if movie:
        data = responses.bin_conditions(data, cfg.movie_bin)
    return AreaData(area, experiments, data, cache.make_key("responses", parts))


def area_rdms(area: AreaData, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Brain RDMs ``(n_brain_rdms, n_pairs)`` and noise-ceiling draws ``(n_splits,)``."""
    parts = {
        "responses": area.fingerprint, "seed": cfg.seed, "n_brain_rdms": cfg.n_brain_rdms,
        "n_splits": cfg.n_splits, "labels": [cfg.stimulus, int(cfg.depth), area.area],
    }
    if cfg.stimulus == "natural_movie_one":
        parts["movie_bin"] = int(cfg.movie_bin)

    def compute() -> dict[str, np.ndarray]:
        labels = (cfg.stimulus, int(cfg.depth), area.area)
        return {
            "rdms": rdm.brain_rdms(area.responses, cfg.n_brain_rdms, rdm.derive_rng(cfg.seed, *labels, "brain_rdms")),
            "ceiling": rdm.split_half_ceiling(area.responses, cfg.n_splits, rdm.derive_rng(cfg.seed, *labels, "noise_ceiling")),
        }

    data = cache.get_or_compute("brain_rdms", parts, compute)
    return data["rdms"], data["ceiling"]


# --------------------------------------------------------------------------------------
# Network side
# --------------------------------------------------------------------------------------


def stimulus_clips(boc: Any, cfg: RunConfig) -> tuple[Any, str]:
    """Clips of the stimulus template and a content key for them."""
    template = allen.load_template(boc, cfg.stimulus)
    key = features.clips_cache_key(template, cfg.stimulus)
    def compute() -> dict[str, np.ndarray]:  # resizing 918x1174 images is slow: cache the 64x64 frames
        clips = features.make_clips(template, cfg.stimulus)
        frames = clips[:, 0, 0] if cfg.stimulus == "natural_scenes" else clips[:, 0].flatten(0, 1)
        return {"frames": frames.numpy()}

    frames = cache.get_or_compute("stimuli", {"clips_key": key}, compute)["frames"]
    return features.clips_from_frames(frames, cfg.stimulus), key


def model_rdms(entry: checkpoints.CheckpointEntry, clips: Any, clips_key: str,
               movie_bin: int | None = None) -> np.ndarray:
    """RDMs ``(len(LAYERS), n_pairs)`` of every layer of one checkpoint (cached).

    ``movie_bin``: ``None`` = one condition per clip (scenes; the movie's original
    protocol); otherwise frames per movie condition (see :mod:`analysis.features`).
    Per-frame features are not cached (~0.9 GB per checkpoint at ``movie_bin=1``); the
    RDMs are computed layer by layer, each layer's features freed after its RDM, with
    :func:`analysis.compare.correlation_rdms` (rsatoolbox's formula with a BLAS product).
    """
    parts: dict[str, Any] = {"checkpoint": entry.sha256, "clips": clips_key, "layers": list(config.LAYERS)}
    if movie_bin is not None:
        parts["movie_bin"] = int(movie_bin)

    def compute() -> dict[str, np.ndarray]:
        feats = features.checkpoint_features(entry, clips, clips_key, movie_bin=movie_bin,
                                             use_cache=movie_bin is None)
        out = []
        for layer in config.LAYERS:
            out.append(compare.correlation_rdms(feats.pop(layer)))  # free each layer once used
        return {"rdms": np.concatenate(out)}

    return cache.get_or_compute("model_rdms", parts, compute)["rdms"]


def pixel_rdm(clips: Any, clips_key: str, movie_bin: int | None = None) -> np.ndarray:
    """RDM ``(1, n_pairs)`` of the pixel baseline."""
    parts: dict[str, Any] = {"pixel": clips_key}
    if movie_bin is not None:
        parts["movie_bin"] = int(movie_bin)
    return cache.get_or_compute(
        "model_rdms", parts, lambda: {"rdms": compare.correlation_rdms(features.pixel_features(clips, movie_bin))}
    )["rdms"]


# --------------------------------------------------------------------------------------
# Tasks (module level, so that they pickle for joblib workers and Dask)
# --------------------------------------------------------------------------------------


def _area_task(job: tuple[RunConfig, str]) -> tuple[AreaData, np.ndarray, np.ndarray]:
    """Responses, brain RDMs and noise ceiling of one area; the responses are dropped."""
    cfg, area = job
    boc = allen.open_cache(cfg.source, download=cfg.download)
    data = area_responses(boc, cfg, area)
    brain, ceiling = area_rdms(data, cfg)
    return data.slim(), brain, ceiling


def _model_task(job: tuple[checkpoints.CheckpointEntry, Any, str, int | None]) -> np.ndarray:
    entry, clips, clips_key, movie_bin = job
    return model_rdms(entry, clips, clips_key, movie_bin)


def _area_score_task(job: tuple) -> tuple[AreaData, list[dict[str, Any]]]:
    """One area end to end: responses, brain RDMs, noise ceiling and the scores of every model.

    Only one area's brain RDMs are in memory at a time (1.6 GB for five areas at 900
    conditions); the responses are dropped before the result is returned.
    """
    cfg, area_name, models, pixel, data_source, stacked = job
    area, brain, ceiling = _area_task((cfg, area_name))
    return area, score_rows(cfg, area, brain, ceiling, models, pixel, data_source, stacked=stacked)


# --------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------


def score_rows(
    cfg: RunConfig,
    area: AreaData,
    brain: np.ndarray,
    ceiling: np.ndarray,
    models: dict[str, tuple[checkpoints.CheckpointEntry, np.ndarray]],
    pixel: np.ndarray,
    data_source: str,
    stacked: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Rows of the tidy table for one area (noise ceiling, baseline, every model layer).

    ``data_source`` is what the cache's provenance says it holds ("synthetic" or
    "allen"), which is what the table reports whatever source was asked for.
    """
    base = {
        "source": data_source, "stimulus": cfg.stimulus, "depth": int(cfg.depth),
        "cre_line": cfg.cre_line, "area": area.area, "n_conditions": area.shape[1],
        "n_neurons": area.shape[2], "n_experiments": len(area.experiments),
    }
    rows = [{**base, "row_type": "noise_ceiling", "species": "", "seed": None, "checkpoint": "",
             "layer": "", "pathway": "", "score": float(np.median(ceiling)), "score_sd": float(np.std(ceiling))}]
    # One tau-a call for the pixel RDM and every model RDM: each brain RDM is ranked once
    # for all of them (exact integer counts, so identical to separate calls).
    if stacked is None:  # ``stacked``: that concatenation, when the caller already holds it
        stacked = np.concatenate([pixel] + [layer_rdms for _, layer_rdms in models.values()])
    sc = rdm.score_models(stacked, brain)
    rows.append({**base, "row_type": "baseline", "species": "", "seed": None, "checkpoint": "",
                 "layer": config.PIXEL_LAYER, "pathway": "pixel", "score": float(sc.mean[0]), "score_sd": float(sc.sd[0])})
    row = 1
    for name, (entry, layer_rdms) in models.items():
        for i, layer in enumerate(config.LAYERS):
            rows.append({**base, "row_type": "model", "species": entry.species, "seed": int(entry.seed),
                         "checkpoint": name, "layer": layer, "pathway": config.layer_pathway(layer),
                         "score": float(sc.mean[row + i]), "score_sd": float(sc.sd[row + i])})
        row += len(layer_rdms)
    return rows


def to_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The tidy table with its fixed column order and dtypes."""
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["seed"] = table["seed"].astype("Int64")
    return table


# --------------------------------------------------------------------------------------
# Provenance and atomic output
# --------------------------------------------------------------------------------------


def git_commit() -> str:
    """Commit of the project checkout (``"unknown"`` outside git), ``+dirty`` if modified."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.PROJECT_ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=config.PROJECT_ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions(names: Sequence[str] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of the named packages."""
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def provenance(cfg: RunConfig, areas: Sequence[AreaData], entries: Sequence[checkpoints.CheckpointEntry], data_source: str) -> dict[str, Any]:
    """Everything needed to know where a table came from."""
    return {
        "source": data_source,
        "stimulus": cfg.stimulus,
        "depth": int(cfg.depth),
        "cre_line": cfg.cre_line,
        "seed": cfg.seed,
        "protocol": cfg.protocol,
        "movie_bin": cfg.movie_bin,
        "n_brain_rdms": cfg.n_brain_rdms,
        "n_splits": cfg.n_splits,
        "areas": {
            a.area: {
                "n_containers": len({e.container_id for e in a.experiments}),
                "n_experiments": len(a.experiments),
                "n_neurons": int(a.shape[2]),
                "n_trials": int(a.shape[0]),
                "n_conditions": int(a.shape[1]),
                "container_ids": sorted({int(e.container_id) for e in a.experiments}),
                "experiment_ids": [int(e.experiment_id) for e in a.experiments],
                "session_types": [e.session_type for e in a.experiments],
            }
            for a in areas
        },
        "checkpoints": {e.stem: e.sha256 for e in entries},
        "packages": package_versions(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
    }


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write the tidy table as CSV (deterministic float format), atomically."""
    return fileio.write_atomic(path, lambda p: table.to_csv(p, index=False, float_format="%.12g"))


def write_json(obj: dict[str, Any], path: Path) -> Path:
    """Write JSON (sorted keys, indented), atomically."""
    return fileio.write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


def compute_table(cfg: RunConfig, progress: bool = True, jobs: int | None = None,
                  dask: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Compute the tidy table and provenance of one run (no files written but caches).

    ``jobs`` local workers (``-1`` = all cores) or a Dask scheduler address ``dask``
    (default ``$RSA_DASK_SCHEDULER``) run the independent work in parallel: checkpoints
    (features, model RDMs), then areas (responses, brain RDMs, noise ceiling, scores; one
    area's brain RDMs in memory per worker). The table and provenance do not depend on either.
    """
    boc = allen.open_cache(cfg.source, download=cfg.download)
    data_source = allen.cache_source(boc)
    if data_source != cfg.source:
        log.warning("the %s cache holds %s data; the table will say so", cfg.source, data_source)
    entries = checkpoints.select_checkpoints(names=cfg.checkpoint_names)
    for e in entries:  # fail early, before any network work, on a missing or tampered file
        checkpoints.locate(e, download=cfg.download)
    for a in cfg.areas:  # fail early on an area x depth without experiments
        allen.select_experiments(boc, cfg.stimulus, a, int(cfg.depth), cfg.cre_line)

    def say(what: str) -> None:
        if progress:
            print(what, file=sys.stderr, flush=True)

    with parallel.parallel_backend(jobs, dask) as (n_jobs, address):
        where = f"Dask at {address}" if address else f"{n_jobs} local worker(s)"
        clips, clips_key = stimulus_clips(boc, cfg)
        movie_bin = movie_bin_of(cfg)
        say(f"model RDMs of {len(entries)} checkpoints ({where})")
        rdms = parallel.map_tasks(_model_task, [(e, clips, clips_key, movie_bin) for e in entries])
        pixel = pixel_rdm(clips, clips_key, movie_bin)
        del clips
        # one array of every model RDM (pixel first); the per-checkpoint entries are views of it
        stacked = np.concatenate([pixel] + rdms)
        del rdms
        models, row = {}, 1
        for e in entries:
            models[e.stem] = (e, stacked[row:row + len(config.LAYERS)])
            row += len(config.LAYERS)

        say(f"responses, brain RDMs, noise ceilings and scores of {len(cfg.areas)} areas ({where})")
        done = parallel.map_tasks(
            _area_score_task, [(cfg, a, models, stacked[:1], data_source, stacked) for a in cfg.areas])
    areas = [d[0] for d in done]
    parts = [d[1] for d in done]
    rows: list[dict[str, Any]] = [r for p in parts for r in p]
    return to_table(rows), provenance(cfg, areas, entries, data_source)


def run(cfg: RunConfig, progress: bool = True, jobs: int | None = None, dask: str | None = None) -> Path:
    """Compute one stimulus x depth and write its table and provenance; returns the CSV path."""
    table, prov = compute_table(cfg, progress=progress, jobs=jobs, dask=dask)
    out = config.results_path(cfg.source, cfg.stimulus, int(cfg.depth))
    write_json(prov, out.with_suffix(".json"))
    write_table(table, out)
    return out
