"""Inference: bootstrap confidence intervals, paired species tests, FDR control.

Shapes and conventions
----------------------
* RDMs are vectorised upper triangles in rsatoolbox order, ``(n_rdms, n_pairs)``.
* ``model_rdms`` ``(n_models, n_pairs)``: every scored "model" (checkpoint x
  layer, and the pixel baseline); ``subject_rdms`` ``(n_subjects, n_pairs)``: one
  all-trial RDM per experiment container (or a single pooled RDM).
* A model's score is the mean over subjects of tau-a (:func:`analysis.compare.tau_a`)
  between its RDM and each subject's RDM.
* Every random draw comes from the ``numpy.random.Generator`` passed in.

Bootstrap (:func:`bootstrap_scores`)
------------------------------------
Each draw resamples

* **stimuli**: ``n_conditions`` conditions with replacement. An RDM is
  resampled by its rows and columns; the pair of a condition with its own copy
  is excluded (its dissimilarity is a trivial zero), exactly as rsatoolbox's
  ``bootstrap_sample_pattern`` / ``RDMs.subsample_pattern`` do (they set those
  entries to NaN, which tau-a drops). A pair drawn ``k`` times appears ``k``
  times (duplicated pairs tie with each other, as in rsatoolbox);
* **subjects**: containers with replacement (a subject drawn ``w`` times has
  weight ``w`` in the mean over subjects);

with the same resample for every model in the draw, so differences between
models (e.g. species) are paired. ``over`` chooses either or both; both
together (the default) is the conservative choice for generalising to new
stimuli and new animals. Percentile intervals (:func:`percentile_ci`).

Species tests (:func:`species_tests`)
-------------------------------------
H0: rat- and treeshrew-trained networks score the same. Statistic: difference
of the species means over seeds (rat - treeshrew), per layer and at each
species' best layer (the maximum over layers of the species-mean score,
re-selected within every draw, so the selection is part of the statistic).
Its bootstrap distribution resamples stimuli and subjects (paired across
species: same resample) **and** the seeds within each species (networks are
the replicates of a training diet: a difference carried by one lucky seed
should not count). Two-sided p = ``min(1, 2 min(P(d <= 0), P(d >= 0)))`` with
the ``(count + 1) / (n_boot + 1)`` correction (the percentile-interval test:
p < alpha iff the 1 - alpha interval excludes 0). An exact permutation test
of species labels over the seeds (:func:`seed_permutation_p`; stimuli and
animals fixed) is reported beside it as ``p_seeds``. The main p-values are
FDR-controlled with Benjamini-Hochberg (:func:`fdr_bh`) over the family of
one table (all areas, layers and best-layer tests of one stimulus x depth).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from .compare import tau_a

Over = Sequence[str]
_OVER = ("stimuli", "subjects")


# --------------------------------------------------------------------------------------
# Resampling primitives
# --------------------------------------------------------------------------------------


def n_conditions_of(n_pairs: int) -> int:
    """Conditions of an RDM with ``n_pairs`` upper-triangle entries."""
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise ValueError(f"{n_pairs} is not n (n - 1) / 2 for any n: not a vectorised RDM")
    return n


def pair_index(n_conditions: int) -> np.ndarray:
    """``(n, n)`` int64: column of pair ``(i, j)`` in a vectorised RDM; -1 on the diagonal."""
    idx = np.full((n_conditions, n_conditions), -1, np.int64)
    iu = np.triu_indices(n_conditions, 1)
    idx[iu] = np.arange(iu[0].size)
    idx[iu[1], iu[0]] = idx[iu]
    return idx


def resample_columns(conditions: np.ndarray, n_conditions: int) -> np.ndarray:
    """Columns of the RDM of a resampled condition list, self-pairs excluded.

    ``conditions``: ``(k,)`` condition indices (with repeats). Returns the
    original RDM columns of the pairs ``(conditions[p], conditions[q])``,
    ``p < q`` after sorting, that are not a condition paired with a copy of
    itself. ``rdms[:, resample_columns(c, n)]`` equals rsatoolbox's
    ``subsample_pattern("index", c).get_vectors()`` with its NaN entries removed.
    """
    s = np.sort(np.asarray(conditions, dtype=np.int64))
    p, q = np.triu_indices(s.size, 1)
    i, j = s[p], s[q]
    keep = i != j
    return pair_index(n_conditions)[i[keep], j[keep]]


def percentile_ci(samples: np.ndarray, level: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval ``(low, high)`` of bootstrap ``samples`` along ``axis`` (NaN-aware)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    a = (1 - level) / 2
    lo, hi = np.nanquantile(samples, [a, 1 - a], axis=axis)
    return lo, hi


def bootstrap_p(samples: np.ndarray, null: float = 0.0, axis: int = 0) -> np.ndarray:
    """Two-sided bootstrap p of H0 ``value == null``: ``min(1, 2 min(P(<= null), P(>= null)))``.

    With the ``(count + 1) / (n + 1)`` correction, so p is never 0.
    """
    s = np.asarray(samples, dtype=np.float64)
    n = s.shape[axis]
    below = ((s <= null).sum(axis=axis) + 1) / (n + 1)
    above = ((s >= null).sum(axis=axis) + 1) / (n + 1)
    return np.minimum(1.0, 2 * np.minimum(below, above))


def fdr_bh(p: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg: ``(reject, p_adjusted)`` for the p-values ``p`` (NaN ignored).

    ``p_adj[(k)] = min_{j >= k} min(1, m p_(j) / j)`` over the sorted p-values;
    equals ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")``.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    pv = p[ok]
    m = pv.size
    if m:
        order = np.argsort(pv)
        ranked = pv[order] * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(ranked[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
        back = np.empty(m)
        back[order] = adj
        out[ok] = back
    reject = np.zeros(p.shape, bool)
    reject[ok] = out[ok] <= alpha
    return reject, out


# --------------------------------------------------------------------------------------
# Bootstrap of scores (and noise ceilings)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    """Point estimates and bootstrap draws.

    ``point``/``draws``: ``(n_models,)`` / ``(n_boot, n_models)`` mean-over-subject
    tau-a; ``nili_point``/``nili_draws``: ``(2,)`` / ``(n_boot, 2)`` (lower, upper)
    Nili bounds, NaN with fewer than 2 subjects; ``over``: what was resampled.
    """

    point: np.ndarray
    draws: np.ndarray
    nili_point: np.ndarray
    nili_draws: np.ndarray
    over: tuple[str, ...]

    def ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        return percentile_ci(self.draws, level)

    def nili_ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        return percentile_ci(self.nili_draws, level)


def _nili(subject_rdms: np.ndarray, weights: np.ndarray) -> np.ndarray:
    from .rdm import nili_bounds

    if weights.sum() < 2:
        return np.array([np.nan, np.nan])
    nb = nili_bounds(subject_rdms, weights)
    return np.array([nb.lower, nb.upper])


def bootstrap_scores(
    model_rdms: np.ndarray,
    subject_rdms: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    over: Over = _OVER,
    nili: bool = True,
    n_threads: int | None = None,
) -> Bootstrap:
    """Bootstrap the mean-over-subjects tau-a of every model (and the Nili bounds).

    Parameters
    ----------
    model_rdms:
        ``(n_models, n_pairs)``.
    subject_rdms:
        ``(n_subjects, n_pairs)`` (a single pooled RDM is one subject; then
        resampling subjects changes nothing and the Nili bounds are NaN).
    rng:
        The only source of randomness.
    n_boot:
        Bootstrap draws.
    over:
        Any of ``"stimuli"`` and ``"subjects"`` (see the module docstring).
    nili:
        Also bootstrap the Nili bounds (with the same resamples).

    Cost: one ``tau_a`` call of ``(n_models, n_subjects)`` per draw.
    """
    over = tuple(over)
    bad = [o for o in over if o not in _OVER]
    if bad or not over:
        raise ValueError(f"over must be a non-empty subset of {_OVER}; got {over}")
    models = np.atleast_2d(np.asarray(model_rdms, dtype=np.float64))
    subjects = np.atleast_2d(np.asarray(subject_rdms, dtype=np.float64))
    if models.shape[1] != subjects.shape[1]:
        raise ValueError(f"model and subject RDMs differ in pairs: {models.shape} vs {subjects.shape}")
    n_cond = n_conditions_of(models.shape[1])
    n_sub = subjects.shape[0]
    ones = np.ones(n_sub)
    point_t = tau_a(models, subjects, n_threads=n_threads)
    point = point_t.mean(axis=1)
    do_nili = nili and n_sub >= 2
    nili_point = _nili(subjects, ones) if do_nili else np.array([np.nan, np.nan])
    draws = np.empty((n_boot, models.shape[0]))
    nili_draws = np.full((n_boot, 2), np.nan)
    for b in range(n_boot):
        if "stimuli" in over:
            cols = resample_columns(rng.integers(0, n_cond, n_cond), n_cond)
            m, s = models[:, cols], subjects[:, cols]
        else:
            m, s = models, subjects
        w = rng.multinomial(n_sub, ones / n_sub).astype(np.float64) if "subjects" in over else ones
        used = w > 0
        t = tau_a(m, s[used], n_threads=n_threads) if "stimuli" in over else point_t[:, used]
        draws[b] = t @ w[used] / w.sum()
        if do_nili:
            nili_draws[b] = _nili(s, w)
    return Bootstrap(point, draws, nili_point, nili_draws, over)


def bootstrap_ceiling_sb(half_pairs: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> np.ndarray:
    """Bootstrap over stimuli of the Spearman-Brown split-half ceiling.

    ``half_pairs`` ``(n_splits, 2, n_pairs)``: the two half RDMs of each split.
    Each draw resamples conditions (self-pairs excluded) and returns the median
    over splits of ``spearman_brown(tau_a(half 1, half 2))`` -> ``(n_boot,)``.
    """
    from .responses import spearman_brown

    hp = np.asarray(half_pairs, dtype=np.float64)
    n_cond = n_conditions_of(hp.shape[2])
    out = np.empty(n_boot)
    for b in range(n_boot):
        cols = resample_columns(rng.integers(0, n_cond, n_cond), n_cond)
        raw = np.array([tau_a(h[0, cols], h[1, cols])[0, 0] for h in hp])
        out[b] = np.median(spearman_brown(raw))
    return out


# --------------------------------------------------------------------------------------
# Species comparison
# --------------------------------------------------------------------------------------


def seed_permutation_p(point: np.ndarray, species: Sequence[str], a: str = "rat", b: str = "treeshrew") -> np.ndarray:
    """Exact two-sided permutation p of the species difference, per column.

    ``point`` ``(n_checkpoints, n_columns)`` scores (stimuli and subjects fixed);
    all relabelings of the checkpoints into groups of the sizes of ``a`` and
    ``b`` (252 for 5 + 5). p = share of relabelings with ``|d| >= |d_obs|``
    (the observed labeling included, so p >= 1/252). A column may be a
    layer or each species' best layer (pass ``best=True`` columns yourself).
    """
    x = np.asarray(point, dtype=np.float64)
    lab = np.asarray(species)
    ia, ib = np.flatnonzero(lab == a), np.flatnonzero(lab == b)
    if ia.size == 0 or ib.size == 0:
        raise ValueError(f"need checkpoints of both {a!r} and {b!r}; got labels {sorted(set(lab.tolist()))}")
    both = np.concatenate([ia, ib])
    obs = x[ia].mean(0) - x[ib].mean(0)
    count = np.zeros(x.shape[1:])
    n = 0
    for ga in combinations(both.tolist(), ia.size):
        gb = np.setdiff1d(both, ga)
        d = x[list(ga)].mean(0) - x[gb].mean(0)
        count += np.abs(d) >= np.abs(obs) - 1e-12
        n += 1
    return count / n


def _species_draws(boot: np.ndarray, idx: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Species-mean scores per draw ``(n_boot, n_layers)``; seeds resampled when ``rng`` is given."""
    sub = boot[:, idx]  # (n_boot, k, n_layers)
    if rng is None:
        return sub.mean(axis=1)
    pick = rng.integers(0, idx.size, size=(boot.shape[0], idx.size))
    return np.take_along_axis(sub, pick[:, :, None], axis=1).mean(axis=1)


def species_tests(
    point: np.ndarray,
    boot: np.ndarray,
    species: Sequence[str],
    layers: Sequence[str],
    rng: np.random.Generator,
    *,
    a: str = "rat",
    b: str = "treeshrew",
    resample_seeds: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Rat vs treeshrew per layer and at each species' best layer.

    Parameters
    ----------
    point:
        ``(n_checkpoints, n_layers)`` scores.
    boot:
        ``(n_boot, n_checkpoints, n_layers)`` bootstrap draws of the same scores
        (one :func:`bootstrap_scores` run over all models: paired resamples).
    species:
        ``(n_checkpoints,)`` labels.
    layers:
        ``(n_layers,)`` names.
    rng:
        Draws the seed resamples (``resample_seeds``).

    Returns
    -------
    pandas.DataFrame
        One row per layer (``test="layer"``) plus one ``test="best_layer"`` row:
        ``test, layer, layer_a, layer_b, mean_a, mean_b, difference, ci_low, ci_high,
        p, p_seeds, best_stability_a, best_stability_b`` (``layer_a``/``layer_b``: each species'
        best layer in the point estimate; ``best_stability_*``: share of draws in
        which it is the best). FDR columns are added by :func:`add_fdr`.
    """
    x = np.asarray(point, dtype=np.float64)
    bt = np.asarray(boot, dtype=np.float64)
    lab = np.asarray(species)
    layers = list(layers)
    if x.shape != bt.shape[1:] or x.shape[1] != len(layers) or x.shape[0] != lab.size:
        raise ValueError(f"shapes disagree: point {x.shape}, boot {bt.shape}, {lab.size} species, {len(layers)} layers")
    ia, ib = np.flatnonzero(lab == a), np.flatnonzero(lab == b)
    if ia.size == 0 or ib.size == 0:
        raise ValueError(f"need checkpoints of both {a!r} and {b!r}; got labels {sorted(set(lab.tolist()))}")
    seed_rng = rng if resample_seeds else None
    da, db = _species_draws(bt, ia, seed_rng), _species_draws(bt, ib, seed_rng)
    ma, mb = x[ia].mean(0), x[ib].mean(0)
    diff_draws = da - db
    lo, hi = percentile_ci(diff_draws, level)
    p = bootstrap_p(diff_draws)
    p_seeds = seed_permutation_p(x, lab, a, b)
    rows = [
        {"test": "layer", "layer": layers[j], "layer_a": layers[j], "layer_b": layers[j],
         "mean_a": ma[j], "mean_b": mb[j], "difference": ma[j] - mb[j], "ci_low": lo[j], "ci_high": hi[j],
         "p": p[j], "p_seeds": p_seeds[j], "best_stability_a": np.nan, "best_stability_b": np.nan}
        for j in range(len(layers))
    ]
    ja, jb = int(np.argmax(ma)), int(np.argmax(mb))
    best_diff = da.max(axis=1) - db.max(axis=1)
    blo, bhi = percentile_ci(best_diff, level)
    # permutation at the best layers: the best-of-species-mean statistic under relabeling
    both = np.concatenate([ia, ib])
    obs = ma.max() - mb.max()
    count, n = 0, 0
    for ga in combinations(both.tolist(), ia.size):
        gb = np.setdiff1d(both, ga)
        d = x[list(ga)].mean(0).max() - x[gb].mean(0).max()
        count += abs(d) >= abs(obs) - 1e-12
        n += 1
    rows.append({"test": "best_layer", "layer": "", "layer_a": layers[ja], "layer_b": layers[jb],
                 "mean_a": ma[ja], "mean_b": mb[jb], "difference": obs, "ci_low": float(blo), "ci_high": float(bhi),
                 "p": float(bootstrap_p(best_diff)), "p_seeds": count / n,
                 "best_stability_a": float(np.mean(da.argmax(axis=1) == ja)),
                 "best_stability_b": float(np.mean(db.argmax(axis=1) == jb))})
    return pd.DataFrame(rows)


def add_fdr(table: pd.DataFrame, alpha: float = 0.05, p_col: str = "p") -> pd.DataFrame:
    """Add ``p_fdr`` (Benjamini-Hochberg over all rows: one family) and ``significant``."""
    out = table.copy()
    reject, adj = fdr_bh(out[p_col].to_numpy(dtype=np.float64), alpha)
    out["p_fdr"] = adj
    out["significant"] = reject
    return out


def score_intervals(boot: Bootstrap, level: float = 0.95) -> pd.DataFrame:
    """Tidy ``(n_models)`` rows: ``model, score, ci_low, ci_high, boot_sd`` (model = row index)."""
    lo, hi = boot.ci(level)
    return pd.DataFrame({"model": np.arange(boot.point.size), "score": boot.point, "ci_low": lo,
                         "ci_high": hi, "boot_sd": boot.draws.std(axis=0, ddof=1)})
