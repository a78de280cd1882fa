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
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import allen, cache, checkpoints, config, features, rdm, responses

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
    responses: np.ndarray
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def session_responses(session: allen.Session, cfg: RunConfig) -> np.ndarray:
    """Response tensor of one session under the run's protocol."""
    if cfg.stimulus == "natural_scenes":
        return responses.scene_responses(session.events, session.stim_table)
    return responses.movie_responses(session.events, session.stim_table, movie_bin=cfg.movie_bin)


def area_responses(boc: Any, cfg: RunConfig, area: str) -> AreaData:
    """Select an area's experiments and pool their responses (cached on file contents)."""
    experiments = allen.select_experiments(boc, cfg.stimulus, area, int(cfg.depth), cfg.cre_line)
    prints = [allen.experiment_fingerprint(boc, e.experiment_id) for e in experiments]
    parts = {
        "stimulus": cfg.stimulus, "protocol": cfg.protocol, "movie_bin": cfg.movie_bin,
        "experiments": [e.experiment_id for e in experiments], "files": prints,
    }

    def compute() -> dict[str, np.ndarray]:
        tensors = [
            session_responses(allen.load_session(boc, e.experiment_id, cfg.stimulus), cfg)
            for e in experiments
        ]
        return {"responses": responses.pool_neurons(tensors)}

    data = cache.get_or_compute("responses", parts, compute)
    return AreaData(area, experiments, data["responses"], cache.make_key("responses", parts))


def area_rdms(area: AreaData, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Brain RDMs ``(n_brain_rdms, n_pairs)`` and noise-ceiling draws ``(n_splits,)``."""
    parts = {
        "responses": area.fingerprint, "seed": cfg.seed, "n_brain_rdms": cfg.n_brain_rdms,
        "n_splits": cfg.n_splits, "labels": [cfg.stimulus, int(cfg.depth), area.area],
    }

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
    return features.make_clips(template, cfg.stimulus), features.clips_cache_key(template, cfg.stimulus)


def model_rdms(entry: checkpoints.CheckpointEntry, clips: Any, clips_key: str) -> np.ndarray:
    """RDMs ``(len(LAYERS), n_pairs)`` of every layer of one checkpoint (cached)."""
    parts = {"checkpoint": entry.sha256, "clips": clips_key, "layers": list(config.LAYERS)}

    def compute() -> dict[str, np.ndarray]:
        feats = features.checkpoint_features(entry, clips, clips_key)
        return {"rdms": np.concatenate([rdm.calc_rdms(feats[layer]) for layer in config.LAYERS])}

    return cache.get_or_compute("model_rdms", parts, compute)["rdms"]


def pixel_rdm(clips: Any, clips_key: str) -> np.ndarray:
    """RDM ``(1, n_pairs)`` of the pixel baseline."""
    return cache.get_or_compute(
        "model_rdms", {"pixel": clips_key}, lambda: {"rdms": rdm.calc_rdms(features.pixel_features(clips))}
    )["rdms"]


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
) -> list[dict[str, Any]]:
    """Rows of the tidy table for one area (noise ceiling, baseline, every model layer).

    ``data_source`` is what the cache's provenance says it holds ("synthetic" or
    "allen"), which is what the table reports whatever source was asked for.
    """
    base = {
        "source": data_source, "stimulus": cfg.stimulus, "depth": int(cfg.depth),
        "cre_line": cfg.cre_line, "area": area.area, "n_conditions": area.responses.shape[1],
        "n_neurons": area.responses.shape[2], "n_experiments": len(area.experiments),
    }
    rows = [{**base, "row_type": "noise_ceiling", "species": "", "seed": None, "checkpoint": "",
             "layer": "", "pathway": "", "score": float(np.median(ceiling)), "score_sd": float(np.std(ceiling))}]
    px = rdm.score_models(pixel, brain)
    rows.append({**base, "row_type": "baseline", "species": "", "seed": None, "checkpoint": "",
                 "layer": config.PIXEL_LAYER, "pathway": "pixel", "score": float(px.mean[0]), "score_sd": float(px.sd[0])})
    for name, (entry, layer_rdms) in models.items():
        sc = rdm.score_models(layer_rdms, brain)
        for i, layer in enumerate(config.LAYERS):
            rows.append({**base, "row_type": "model", "species": entry.species, "seed": int(entry.seed),
                         "checkpoint": name, "layer": layer, "pathway": config.layer_pathway(layer),
                         "score": float(sc.mean[i]), "score_sd": float(sc.sd[i])})
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
                "n_neurons": int(a.responses.shape[2]),
                "n_trials": int(a.responses.shape[0]),
                "n_conditions": int(a.responses.shape[1]),
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


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write the tidy table as CSV (deterministic float format), atomically."""
    return write_atomic(path, lambda p: table.to_csv(p, index=False, float_format="%.12g"))


def write_json(obj: dict[str, Any], path: Path) -> Path:
    """Write JSON (sorted keys, indented), atomically."""
    return write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


def compute_table(cfg: RunConfig, progress: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Compute the tidy table and provenance of one run (no files written but caches)."""
    boc = allen.open_cache(cfg.source, download=cfg.download)
    data_source = allen.cache_source(boc)
    if data_source != cfg.source:
        log.warning("the %s cache holds %s data; the table will say so", cfg.source, data_source)
    areas = [area_responses(boc, cfg, a) for a in tqdm(cfg.areas, desc="responses", disable=not progress)]
    brain = {a.area: area_rdms(a, cfg) for a in tqdm(areas, desc="brain RDMs", disable=not progress)}

    entries = checkpoints.select_checkpoints(names=cfg.checkpoint_names)
    for e in entries:  # fail early, before any network work, on a missing or tampered file
        checkpoints.locate(e, download=cfg.download)
    clips, clips_key = stimulus_clips(boc, cfg)
    models = {
        e.stem: (e, model_rdms(e, clips, clips_key))
        for e in tqdm(entries, desc="network RDMs", disable=not progress)
    }
    pixel = pixel_rdm(clips, clips_key)

    rows: list[dict[str, Any]] = []
    for a in tqdm(areas, desc="scores", disable=not progress):
        rows += score_rows(cfg, a, *brain[a.area], models, pixel, data_source)
    return to_table(rows), provenance(cfg, areas, entries, data_source)


def run(cfg: RunConfig, progress: bool = True) -> Path:
    """Compute one stimulus x depth and write its table and provenance; returns the CSV path."""
    table, prov = compute_table(cfg, progress=progress)
    out = config.results_path(cfg.source, cfg.stimulus, int(cfg.depth))
    write_json(prov, out.with_suffix(".json"))
    write_table(table, out)
    return out
