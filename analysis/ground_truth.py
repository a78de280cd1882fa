"""Ground truth: plant a known answer in the synthetic Brain Observatory and recover it.

:func:`layer_plant` builds a :class:`analysis.synthetic.Plant` whose features are
one layer of one checkpoint, computed on the very clips the analysis scores
(``features.make_clips`` with the protocol's ``keep_aspect``), so the planted
area's population is driven by that layer (``weight`` = share of drive
variance, ``gain`` = response amplitude: higher is more reliable). The movie's
60 clips are held for their 15 frames each (a piecewise-constant drive over
the 900 frames).

:func:`recover` runs the corrected protocol on a cache for one area and scores
every layer of the given checkpoints with bootstrap intervals;
:func:`check_recovery` states the two properties the pipeline must have:

1. **best layer**: the planted (checkpoint, layer) has the highest score in the
   area and is the best in >= 95 % of the paired bootstrap draws (stimuli and
   subjects resampled together for all models);
2. **reaches the ceiling**: its bootstrap score interval overlaps the band
   between the lower and upper Nili bounds (point estimates) - the ceiling the
   corrected protocol reports for a mean-over-subjects score - i.e. the
   planted model explains each animal as well as the other animals do (with a
   single subject the Spearman-Brown split-half ceiling of the pooled RDM is
   used instead).

How the planted population follows the layer (``mode="geometry"``,
:func:`analysis.synthetic.geometry_drive`): each neuron's drive is the
projection of the layer's (item-centred, unit-norm) activation pattern on a
Gaussian direction, so over neurons two images' drives correlate exactly as
the layer's patterns do; any per-neuron monotone nonlinearity then keeps the
RDM's order in the many-neuron limit. What separates subjects is the finite
sample of neurons (and trial noise), i.e. exactly what the Nili bounds measure.

The book's table (:func:`write_ground_truth`, ``python -m analysis ground-truth``, part
of ``python -m analysis paper``): :data:`PLANT` (``rat1/out`` in VISp at 175 um on the
scenes; the ``planted`` preset: 4 containers of 120 cells) is built once under
``$RSA_DATA/planted/<settings hash>/``; every layer of :data:`CANDIDATES` (a rat- and a
treeshrew-trained network, 30 layers) is scored and
``results/<source>/ground_truth.csv`` written (columns of
:data:`analysis.tables.GROUND_TRUTH_COLUMNS` plus ``best_checkpoint, best_share, margin,
reaches_ceiling, stimulus, depth, n_subjects, n_cells, n_boot``), with a JSON beside it
holding the settings; an up-to-date table is not recomputed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import config, study
from .protocols import CORRECTED, Protocol
from .synthetic import Plant

STIMULUS_CLIP_FRAMES = study.CLIP_LEN


def layer_features(checkpoint: str, layer: str, stimulus: str, template: np.ndarray, *,
                   keep_aspect: bool = True, pad_value: float = 0.5) -> np.ndarray:
    """Features of one layer on the clips of ``template``, ``float32 (n_clips, n_features)`` (cached).

    All layers of the checkpoint are extracted in one forward pass and cached
    together (one cache entry per checkpoint and clip set), so scoring the 15
    layers of a checkpoint costs one pass, not 15.
    """
    study.validate_choice("layer", layer, study.LAYERS)
    return checkpoint_layer_features(checkpoint, stimulus, template, keep_aspect=keep_aspect,
                                     pad_value=pad_value)[layer]


def checkpoint_layer_features(checkpoint: str, stimulus: str, template: np.ndarray, *, keep_aspect: bool = True,
                              pad_value: float = 0.5) -> dict[str, np.ndarray]:
    """``{layer: float32 (n_clips, n_features)}`` for every layer of ``study.LAYERS`` (one cached pass)."""
    from . import features

    clips, key = template_clips(template, stimulus, keep_aspect=keep_aspect, pad_value=pad_value)
    return features.checkpoint_features(checkpoint, clips, key, layers=study.LAYERS)


_CLIPS: dict[str, Any] = {}


def template_clips(template: np.ndarray, stimulus: str, *, keep_aspect: bool = True,
                   pad_value: float = 0.5) -> tuple[Any, str]:
    """The network's input clips of ``template`` and their cache key (:func:`analysis.features.make_clips`).

    The last clip set is kept in memory: planting every layer of a network resizes the same
    templates once, not once a layer (resizing the 118 scenes takes ~2 s).
    """
    from . import features

    key = features.clips_cache_key(template, stimulus, keep_aspect=keep_aspect, pad_value=pad_value)
    if key not in _CLIPS:
        _CLIPS.clear()
        _CLIPS[key] = features.make_clips(template, stimulus, keep_aspect=keep_aspect, pad_value=pad_value)
    return _CLIPS[key], key


def layer_plant(checkpoint: str, layer: str, area: str, *, weight: float = 1.0, gain: float = 1.0,
                stimuli: Sequence[str] = study.DEFAULT_STIMULI, protocol: Protocol = CORRECTED,
                depths: tuple[int, ...] | None = None, n_dims: int = 256, mode: str = "geometry",
                response: str = "model") -> Plant:
    """A :class:`~analysis.synthetic.Plant`: ``area`` driven by ``layer`` of ``checkpoint``.

    ``features`` is a callable of ``(stimulus, template)`` returning ``(items, k)``:
    ``(118, k)`` for scenes (one clip per image); ``(900, k)`` for the movie (each
    of the 60 clips' features repeated for its 15 frames). With ``mode="geometry"``
    (default) the layer's activations are passed as they are and the generator
    keeps their geometry exactly (:func:`analysis.synthetic.geometry_drive`);
    with ``mode="standardize"`` (the generator's column-standardising path)
    they are passed through :func:`rdm_preserving_projection` first.
    ``response``: the planted response nonlinearity (:class:`~analysis.synthetic.Plant`).
    """
    study.validate_choice("area", area, study.AREAS)
    wanted = tuple(stimuli)
    for s in wanted:
        study.get_stimulus(s)

    def feats(stimulus: str, template: np.ndarray) -> np.ndarray | None:
        if stimulus not in wanted:
            return None
        f = layer_features(checkpoint, layer, stimulus, template, keep_aspect=protocol.keep_aspect,
                           pad_value=protocol.pad_value).astype(np.float64)
        if mode == "standardize":
            f = rdm_preserving_projection(f, n_dims)
        if study.get_stimulus(stimulus).is_movie:  # each clip's features for its 15 frames
            f = np.repeat(f, STIMULUS_CLIP_FRAMES, axis=0)
        return f

    return Plant(area=area, features=feats, weight=weight, gain=gain, depths=depths, mode=mode, response=response)


def rdm_preserving_projection(features: np.ndarray, n_dims: int = 256, seed: int = 0) -> np.ndarray:
    """``(items, k)`` -> ``(items, n_dims)`` features whose inner products are the layer's correlations.

    The synthetic generator standardises each planted feature column before its
    random projection; on raw activations that would give silent units the
    weight of active ones and plant a geometry the layer's RDM does not have.
    Each item's pattern is centred and scaled to unit norm (its inner products
    are then the Pearson correlations, i.e. 1 - the correlation-distance RDM)
    and projected on ``n_dims`` random Gaussian directions (fixed ``seed``),
    which preserves inner products in expectation. Caveat: for low-rank
    features the columns' variances still differ (up to ~4x measured), so the
    generator's standardisation still distorts the planted geometry somewhat.
    """
    f = np.asarray(features, dtype=np.float64)
    f = f - f.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    f = f / np.where(norm > 0, norm, 1.0)
    proj = np.random.default_rng(seed).standard_normal((f.shape[1], n_dims)) / np.sqrt(n_dims)
    return f @ proj


@dataclass(frozen=True)
class Recovery:
    """Result of :func:`recover` for one area.

    ``scores``: one row per (checkpoint, layer) with ``score, ci_low, ci_high``;
    ``nili``: ``(lower, upper)`` point estimates (NaN with one subject);
    ``nili_ci``: ``((lower_lo, lower_hi), (upper_lo, upper_hi))``;
    ``sb_ceiling``: median over splits of the mean over containers of their Spearman-Brown split-half ceilings;
    ``pooled_scores``: tau-a of each model with the pooled all-trial RDM.
    """

    area: str
    scores: pd.DataFrame
    nili: tuple[float, float]
    nili_ci: tuple[tuple[float, float], tuple[float, float]]
    sb_ceiling: float
    n_subjects: int
    n_cells: int


def recover(boc: Any, stimulus: str, area: str, depth: int, checkpoints: Sequence[str], *,
            protocol: Protocol = CORRECTED, seed: int = study.SEED, n_boot: int = 200,
            n_splits: int = 20, level: float = 0.95, template: np.ndarray | None = None) -> Recovery:
    """Score every layer of ``checkpoints`` against ``area`` under ``protocol`` with intervals.

    The same code as the corrected protocol of :func:`analysis.pipeline.run`: per-container
    responses (:func:`analysis.pipeline.subject_responses`, cached), their all-trial RDMs,
    Spearman-Brown ceiling and Nili bounds (:func:`analysis.pipeline.corrected_brain`),
    model RDMs of the protocol's clips (:func:`analysis.pipeline.protocol_clips`,
    :func:`analysis.pipeline.model_rdms`, cached). Scores here are the **means over
    subjects** of tau-a with each container's RDM - the quantity the Nili bounds bound,
    so that "reaches the ceiling" compares like with like - with intervals from
    :func:`analysis.stats.bootstrap_scores` over stimuli and subjects (generator
    ``derive_rng(seed, stimulus, depth, area, "bootstrap")``).
    """
    from . import allen, brain, rdm, stats
    from . import checkpoints as ckpt
    from . import pipeline

    stim = study.get_stimulus(stimulus)
    data = brain.pool_subjects(area, brain.subject_tensors(boc, stim, area, depth, protocol, cre_line=study.CRE_LINE,
                                                           movie_bin=stim.default_bin, seed=seed))
    side = brain.brain_side(data, protocol, 0, n_splits, seed, (stimulus, depth, area), ceiling_label="ceiling")
    subject_rdms = side["rdms"]
    if template is None:
        template = allen.load_template(boc, stimulus)
    clips, key = pipeline.protocol_clips(template, stimulus, protocol)
    names = [(ck, layer) for ck in checkpoints for layer in study.LAYERS]
    model_rdms = np.concatenate([pipeline.model_rdms(ckpt.get_entry(ck), clips, key) for ck in checkpoints])
    boot = stats.bootstrap_scores(model_rdms, subject_rdms, rdm.derive_rng(seed, stimulus, depth, area, "bootstrap"),
                                  n_boot=n_boot)
    lo, hi = boot.ci(level)
    best_share = np.bincount(np.argmax(boot.draws, axis=1), minlength=len(names)) / boot.draws.shape[0]
    scores = pd.DataFrame({"checkpoint": [n[0] for n in names], "layer": [n[1] for n in names],
                           "score": boot.point, "ci_low": lo, "ci_high": hi, "best_share": best_share})
    nlo, nhi = boot.nili_ci(level) if subject_rdms.shape[0] >= 2 else (np.full(2, np.nan), np.full(2, np.nan))
    return Recovery(area=area, scores=scores, nili=(float(boot.nili_point[0]), float(boot.nili_point[1])),
                    nili_ci=((float(nlo[0]), float(nhi[0])), (float(nlo[1]), float(nhi[1]))),
                    sb_ceiling=float(np.median(side["ceiling"])), n_subjects=int(subject_rdms.shape[0]),
                    n_cells=int(data.shape[2]))


def check_recovery(rec: Recovery, checkpoint: str, layer: str) -> dict[str, Any]:
    """The two recovery properties (see the module docstring) and the numbers behind them.

    ``recovered_best``: the planted model has the highest score **and** is the
    best in at least 95 % of the (paired) bootstrap draws; ``margin``: its score
    minus the runner-up's. ``reaches_ceiling``: its score interval
    ``[ci_low, ci_high]`` overlaps the ceiling band ``[ceiling_low, ceiling_high]``:
    the Nili lower and upper bounds (point estimates) with two or more subjects;
    with one subject the Spearman-Brown split-half ceiling (a single value).
    """
    s = rec.scores
    best = s.loc[s["score"].idxmax()]
    row = s[(s.checkpoint == checkpoint) & (s.layer == layer)]
    if row.empty:
        raise ValueError(f"({checkpoint}, {layer}) was not scored; scored: {sorted(set(s.checkpoint))}")
    row = row.iloc[0]
    others = s.drop(index=row.name)
    runner = others.loc[others["score"].idxmax()]
    if rec.n_subjects >= 2:
        c_lo, c_hi = rec.nili
    else:
        c_lo = c_hi = rec.sb_ceiling
    is_best = bool(best.checkpoint == checkpoint and best.layer == layer)
    return {
        "best_checkpoint": best.checkpoint, "best_layer": best.layer,
        "recovered_best": is_best and float(row.best_share) >= 0.95,
        "best_share": float(row.best_share),
        "runner_up": f"{runner.checkpoint}/{runner.layer}", "margin": float(row.score - runner.score),
        "ci_half_width": float((row.ci_high - row.ci_low) / 2),
        "score": float(row.score), "ci_low": float(row.ci_low), "ci_high": float(row.ci_high),
        "ceiling_low": float(c_lo), "ceiling_high": float(c_hi),
        "ceiling": float(c_lo),
        "reaches_ceiling": bool(row.ci_high >= c_lo and row.ci_low <= c_hi),
    }


# --------------------------------------------------------------------------------------
# The book's ground-truth table
# --------------------------------------------------------------------------------------

#: The planted answer of the book's ground-truth check (see tests/test_ground_truth.py for
#: why ``rat1/out``: its RDM is the least like any other layer's).
PLANT: dict[str, Any] = {
    "checkpoint": "rat1", "layer": "out", "area": "VISp", "stimulus": "natural_scenes", "depth": 175,
    "weight": 1.0, "gain": 3.0, "mode": "geometry", "response": "rectified", "preset": "planted", "data_seed": 0,
}
#: Networks whose every layer competes with the planted one.
CANDIDATES: tuple[str, ...] = ("rat1", "ts1")
#: Columns of ``ground_truth.csv`` beyond the book's (:data:`analysis.tables.GROUND_TRUTH_COLUMNS`).
EXTRA_COLUMNS: tuple[str, ...] = ("best_checkpoint", "best_share", "margin", "reaches_ceiling", "stimulus",
                                  "depth", "n_subjects", "n_cells", "n_boot")


def _settings_key(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def planted_cache(plant: dict[str, Any] | None = None, root: Path | None = None, progress: bool = False) -> Path:
    """The synthetic cache with ``plant`` (default :data:`PLANT`), built when missing; returns its root.

    Lives in ``$RSA_DATA/planted/<hash of the plant, the generator version and the
    checkpoint's SHA-256>`` unless ``root`` is given; built atomically
    (:func:`analysis.synthetic.build_synthetic_cache`).
    """
    from . import checkpoints, synthetic

    plant = dict(PLANT if plant is None else plant)
    settings = {**plant, "generator_version": synthetic.GENERATOR_VERSION,
                "checkpoint_sha256": checkpoints.get_entry(plant["checkpoint"]).sha256}
    if root is None:
        root = config.data_root() / "planted" / _settings_key(settings)[:16]
    root = Path(root)
    if not (root / "manifest.json").is_file():
        p = layer_plant(plant["checkpoint"], plant["layer"], plant["area"], weight=plant["weight"],
                        gain=plant["gain"], stimuli=(plant["stimulus"],), mode=plant["mode"],
                        response=plant["response"])
        synthetic.build_synthetic_cache(root, preset=plant["preset"], seed=plant["data_seed"], progress=progress,
                                        plant=p, overwrite=True)
    return root


def ground_truth_row(rec: Recovery, plant: dict[str, Any], n_boot: int) -> dict[str, Any]:
    """One row of ``ground_truth.csv`` from a :class:`Recovery` of the planted area."""
    check = check_recovery(rec, plant["checkpoint"], plant["layer"])
    return {
        "area": rec.area, "planted_checkpoint": plant["checkpoint"], "planted_layer": plant["layer"],
        "best_layer": check["best_layer"], "score": check["score"], "ci_low": check["ci_low"],
        "ci_high": check["ci_high"], "ceiling_low": check["ceiling_low"], "ceiling_high": check["ceiling_high"],
        "recovered": check["recovered_best"], "best_checkpoint": check["best_checkpoint"],
        "best_share": check["best_share"], "margin": check["margin"], "reaches_ceiling": check["reaches_ceiling"],
        "stimulus": plant["stimulus"], "depth": int(plant["depth"]), "n_subjects": rec.n_subjects,
        "n_cells": rec.n_cells, "n_boot": int(n_boot),
    }


def write_ground_truth(source: str = "synthetic", *, seed: int = study.SEED, n_boot: int = 1000,
                       n_splits: int = 20, plant: dict[str, Any] | None = None,
                       candidates: Sequence[str] = CANDIDATES, force: bool = False,
                       progress: bool = True) -> Path:
    """Plant, recover and write ``results/<source>/ground_truth.csv`` (and a JSON of its settings).

    The planted data are always synthetic (:func:`planted_cache`); ``source`` only says
    whose results folder (and book) the table belongs to. ``n_boot`` bootstrap draws
    (at least 20: "best in >= 95 % of the draws" needs draws). Skips the work when the
    table exists with the same settings (``force`` recomputes). Written atomically.
    """
    from . import allen, checkpoints, fileio, tables

    study.validate_choice("source", source, study.SOURCES)
    plant = dict(PLANT if plant is None else plant)
    candidates = tuple(candidates)
    if plant["checkpoint"] not in candidates:
        raise ValueError(f"the planted checkpoint {plant['checkpoint']!r} must be among the candidates {candidates}")
    if int(n_boot) < 20:
        raise ValueError(f"the ground-truth check needs at least 20 bootstrap draws (its criterion is the share "
                         f"of draws in which the planted layer is best); got n_boot={n_boot}")
    n_boot = int(n_boot)
    path = tables.ground_truth_path(source)
    settings = {"plant": plant, "candidates": list(candidates), "seed": int(seed), "n_boot": n_boot,
                "n_splits": int(n_splits), "protocol": CORRECTED.as_dict(),
                "checkpoints": {c: checkpoints.get_entry(c).sha256 for c in candidates}}
    key = _settings_key(settings)
    meta = path.with_suffix(".json")
    if not force and path.is_file() and meta.is_file():
        try:
            if json.loads(meta.read_text()).get("key") == key:
                if progress:
                    print(f"ground truth {path}: up to date")
                return path
        except ValueError:
            pass
    root = planted_cache(plant, progress=progress)
    boc = allen.open_cache("synthetic", root)
    rec = recover(boc, plant["stimulus"], plant["area"], int(plant["depth"]), list(candidates), seed=seed,
                  n_boot=n_boot, n_splits=n_splits)
    table = pd.DataFrame([ground_truth_row(rec, plant, n_boot)],
                         columns=list(tables.GROUND_TRUTH_COLUMNS) + list(EXTRA_COLUMNS))
    fileio.write_text_atomic(meta, json.dumps({"key": key, "settings": settings, "planted_data": str(root)},
                                              indent=2, sort_keys=True) + "\n")
    fileio.write_atomic(path, lambda p: table.to_csv(p, index=False, float_format="%.12g"))
    return path
