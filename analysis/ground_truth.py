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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import config
from .protocols import CORRECTED, Protocol, pool_subjects, subject_tensors
from .synthetic import Plant

STIMULUS_CLIP_FRAMES = 15


def layer_features(checkpoint: str, layer: str, stimulus: str, template: np.ndarray, *,
                   keep_aspect: bool = True, pad_value: float = 0.5) -> np.ndarray:
    """Features of one layer on the clips of ``template``, ``float32 (n_clips, n_features)`` (cached).

    All layers of the checkpoint are extracted in one forward pass and cached
    together (one cache entry per checkpoint and clip set), so scoring the 15
    layers of a checkpoint costs one pass, not 15.
    """
    config.validate_choice("layer", layer, config.LAYERS)
    return checkpoint_layer_features(checkpoint, stimulus, template, keep_aspect=keep_aspect,
                                     pad_value=pad_value)[layer]


def checkpoint_layer_features(checkpoint: str, stimulus: str, template: np.ndarray, *, keep_aspect: bool = True,
                              pad_value: float = 0.5) -> dict[str, np.ndarray]:
    """``{layer: float32 (n_clips, n_features)}`` for every layer of ``config.LAYERS`` (one cached pass)."""
    from . import features

    clips = features.make_clips(template, stimulus, keep_aspect=keep_aspect, pad_value=pad_value)
    key = features.clips_cache_key(template, stimulus, keep_aspect=keep_aspect, pad_value=pad_value)
    return features.checkpoint_features(checkpoint, clips, key, layers=config.LAYERS)


def layer_plant(checkpoint: str, layer: str, area: str, *, weight: float = 1.0, gain: float = 1.0,
                stimuli: Sequence[str] = config.STIMULI, protocol: Protocol = CORRECTED,
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
    config.validate_choice("area", area, config.AREAS)
    wanted = tuple(stimuli)
    config.validate_choices("stimulus", list(wanted), config.STIMULI)

    def feats(stimulus: str, template: np.ndarray) -> np.ndarray | None:
        if stimulus not in wanted:
            return None
        f = layer_features(checkpoint, layer, stimulus, template, keep_aspect=protocol.keep_aspect,
                           pad_value=protocol.pad_value).astype(np.float64)
        if mode == "standardize":
            f = rdm_preserving_projection(f, n_dims)
        if stimulus == "natural_movie_one":
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
    ``sb_ceiling``: median Spearman-Brown split-half ceiling of the pooled RDM;
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
            protocol: Protocol = CORRECTED, seed: int = config.SEED, n_boot: int = 200,
            n_splits: int = 20, level: float = 0.95, template: np.ndarray | None = None) -> Recovery:
    """Score every layer of ``checkpoints`` against ``area`` under ``protocol`` with intervals.

    Subjects are experiment containers (:func:`analysis.protocols.subject_tensors`);
    scores are means over subjects of tau-a; intervals from
    :func:`analysis.stats.bootstrap_scores` over stimuli and subjects.
    """
    from . import allen, rdm, stats

    subjects = subject_tensors(boc, stimulus, area, depth, protocol, seed=seed)
    subject_rdms = np.concatenate([rdm.mean_rdm(m.responses) for m in subjects.values()])
    pooled = pool_subjects(subjects)
    if template is None:
        template = allen.load_template(boc, stimulus)
    names, model_rdms = [], []
    for ck in checkpoints:
        feats = checkpoint_layer_features(ck, stimulus, template, keep_aspect=protocol.keep_aspect,
                                          pad_value=protocol.pad_value)
        for layer in config.LAYERS:
            model_rdms.append(rdm.calc_rdms(feats[layer]))
            names.append((ck, layer))
    model_rdms = np.concatenate(model_rdms)
    boot = stats.bootstrap_scores(model_rdms, subject_rdms, rdm.derive_rng(seed, stimulus, depth, area, "bootstrap"),
                                  n_boot=n_boot)
    lo, hi = boot.ci(level)
    best_share = np.bincount(np.argmax(boot.draws, axis=1), minlength=len(names)) / boot.draws.shape[0]
    scores = pd.DataFrame({"checkpoint": [n[0] for n in names], "layer": [n[1] for n in names],
                           "score": boot.point, "ci_low": lo, "ci_high": hi, "best_share": best_share})
    nlo, nhi = boot.nili_ci(level) if subject_rdms.shape[0] >= 2 else (np.full(2, np.nan), np.full(2, np.nan))
    sb = rdm.split_half_ceiling_sb(pooled.responses, n_splits, rdm.derive_rng(seed, stimulus, depth, area, "ceiling"))
    return Recovery(area=area, scores=scores, nili=(float(boot.nili_point[0]), float(boot.nili_point[1])),
                    nili_ci=((float(nlo[0]), float(nhi[0])), (float(nlo[1]), float(nhi[1]))),
                    sb_ceiling=sb.median, n_subjects=int(subject_rdms.shape[0]),
                    n_cells=int(pooled.responses.shape[2]))


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
