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

Pooled-cell scores (:func:`bootstrap_pooled_scores`)
----------------------------------------------------
The pipeline's tables score models against the RDM of an area's cells *pooled* over
containers. Its bootstrap draws stimuli and containers the same way, but each draw
pools the drawn containers' cells (a container drawn twice counts twice) and
recomputes the brain RDM from per-container sufficient statistics
(:func:`pattern_sums`, :func:`pooled_rdm`), so the interval is one of the table's
score, not of a mean over per-container scores.

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

import numba
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
# Weighted tau-a kernel for the stimulus bootstrap (rank once, weight columns per draw)
# --------------------------------------------------------------------------------------
#
# A stimulus resample draws condition i ``c_i`` times. Its RDM holds the original
# column (pair) ``(i, j)`` exactly ``w = c_i c_j`` times (self-pairs excluded; see
# :func:`resample_columns`), and copies of one column tie with each other in both
# RDMs. tau-a of two resampled RDMs a, b (``M = sum w`` entries) is therefore
#
#     sum_{k < l} w_k w_l sign(a_k - a_l) sign(b_k - b_l) / (M (M - 1) / 2)
#
# over the *original* columns k, l. With ``P = (M^2 - sum w^2) / 2`` pairs of
# distinct columns, ``T_a``/``T_b``/``T_ab`` the weighted pairs of distinct columns
# tied in a / in b / in both (``sum_groups (S^2 - sum w^2) / 2``) and ``D`` the
# weighted discordant pairs, the numerator is ``P - T_a - T_b + T_ab - 2 D``: the
# same exact integer that :func:`analysis.compare.tau_a` computes on the
# resampled vectors, divided once by the same integer, so the result is
# bit-identical. Only the order of values matters, so every RDM is ranked once
# (dense ranks of the full vector) and no resample is ever materialised;
# columns of weight 0 (a condition not drawn; ~60 % of them) are skipped.
# ``D`` is a weighted inversion count (Fenwick tree over the model's ranks) in
# the subject's column order, ties in the subject broken by the model's rank.


def _jit(**options):
    import warnings

    def decorate(func):
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError as exc:  # no writable cache location
            warnings.warn(f"numba cannot cache {func.__name__} ({exc}); compiling it in every process.",
                          RuntimeWarning, stacklevel=2)
            return numba.njit(cache=False, **options)(func)

    return decorate


def _dense_ranks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense ranks ``(n, m)`` int32 (``==`` ties, ``-0.0 == 0.0``), level counts ``(n,)`` and orders ``(n, m)``."""
    n, m = x.shape
    ranks = np.empty((n, m), np.int32)
    levels = np.empty(n, np.int64)
    for r in range(n):
        u, inv = np.unique(x[r], return_inverse=True)
        ranks[r] = inv.reshape(-1)
        levels[r] = u.size
    order = np.argsort(ranks, axis=1, kind="stable").astype(np.int32)
    return ranks, levels, order


@_jit(parallel=True)
def _weighted_kernel(ra, pa, rb, ob, ci, cj, counts, used, out, n_threads):
    """out[d, i, s] = tau-a of model i and subject s under the condition counts of draw d.

    ra, pa: (n_models, m) int32 dense ranks of the models and their column
    order (sorted by rank); rb, ob: the same for the subjects; ci, cj: (m,)
    conditions of each column; counts: (n_draws, n_cond) int64; used:
    (n_draws, n_sub) bool (unused subjects are left NaN).
    """
    n_draws = counts.shape[0]
    n_models, m = ra.shape
    n_sub = rb.shape[0]
    for t in numba.prange(n_threads):
        w = np.empty(m, np.int64)
        seqs = np.empty((n_sub, m), np.int32)  # nonzero columns in each subject's order
        mes = np.zeros(n_sub, np.int64)
        tbs = np.zeros(n_sub, np.int64)
        runs = np.zeros(n_sub, np.bool_)
        srt = np.empty(m, np.int32)  # a subject's order, ties broken by the model's rank
        cr = np.empty(m, np.int32)  # model's ranks among the nonzero columns (1-based)
        tree = np.zeros(m + 1, np.int32)
        for d in range(t, n_draws, n_threads):
            tot = np.int64(0)
            sq = np.int64(0)
            for c in range(m):
                v = counts[d, ci[c]] * counts[d, cj[c]]
                w[c] = v
                tot += v
                sq += v * v
            n0 = (tot * (tot - 1)) // 2
            pp = (tot * tot - sq) // 2
            if n0 < 1:  # fewer than 2 resampled pairs: undefined (tau_a raises)
                for i in range(n_models):
                    for s in range(n_sub):
                        out[d, i, s] = np.nan
                continue
            for s in range(n_sub):
                me = 0
                for q in range(m):
                    c = ob[s, q]
                    if w[c] != 0:
                        seqs[s, me] = c
                        me += 1
                mes[s] = me
                tb = np.int64(0)
                has_runs = False
                q = 0
                while q < me:
                    e = q + 1
                    while e < me and rb[s, seqs[s, e]] == rb[s, seqs[s, q]]:
                        e += 1
                    if e - q > 1:
                        has_runs = True
                        ssum = np.int64(0)
                        ssq = np.int64(0)
                        for z in range(q, e):
                            v = w[seqs[s, z]]
                            ssum += v
                            ssq += v * v
                        tb += (ssum * ssum - ssq) // 2
                    q = e
                tbs[s] = tb
                runs[s] = has_runs
            for i in range(n_models):
                # compressed ranks of the nonzero columns and the model's tied pairs
                kc = 0
                prev = -1
                ta = np.int64(0)
                ssum = np.int64(0)
                ssq = np.int64(0)
                for q in range(m):
                    c = pa[i, q]
                    v = w[c]
                    if v != 0:
                        g = ra[i, c]
                        if g != prev:
                            ta += (ssum * ssum - ssq) // 2
                            ssum = 0
                            ssq = 0
                            kc += 1
                            prev = g
                        ssum += v
                        ssq += v * v
                        cr[c] = kc
                ta += (ssum * ssum - ssq) // 2
                for s in range(n_sub):
                    if not used[d, s]:
                        out[d, i, s] = np.nan
                        continue
                    me = mes[s]
                    tab = np.int64(0)
                    if runs[s]:
                        for z in range(me):
                            srt[z] = seqs[s, z]
                        q = 0
                        while q < me:
                            e = q + 1
                            while e < me and rb[s, srt[e]] == rb[s, srt[q]]:
                                e += 1
                            if e - q > 1:
                                # insertion sort of the run by the model's rank
                                for z in range(q + 1, e):
                                    c = srt[z]
                                    key = cr[c]
                                    y = z - 1
                                    while y >= q and cr[srt[y]] > key:
                                        srt[y + 1] = srt[y]
                                        y -= 1
                                    srt[y + 1] = c
                                z = q
                                while z < e:
                                    y = z + 1
                                    ssum = w[srt[z]]
                                    ssq = ssum * ssum
                                    while y < e and cr[srt[y]] == cr[srt[z]]:
                                        v = w[srt[y]]
                                        ssum += v
                                        ssq += v * v
                                        y += 1
                                    tab += (ssum * ssum - ssq) // 2
                                    z = y
                            q = e
                        order = srt[:me]
                    else:
                        order = seqs[s, :me]
                    for g in range(kc + 1):
                        tree[g] = 0
                    dd = np.int64(0)
                    sofar = np.int64(0)
                    for z in range(me):
                        c = order[z]
                        v = w[c]
                        r = cr[c]
                        le = np.int64(0)  # weight of earlier columns with rank <= this one
                        j = r
                        while j > 0:
                            le += tree[j]
                            j -= j & (-j)
                        dd += v * (sofar - le)
                        sofar += v
                        vv = np.int32(v)
                        j = r
                        while j <= kc:
                            tree[j] += vv
                            j += j & (-j)
                    num = pp - ta - tbs[s] + tab - 2 * dd
                    out[d, i, s] = np.float64(num) / np.float64(n0)


def weighted_tau_draws(models: np.ndarray, subjects: np.ndarray, counts: np.ndarray,
                       used: np.ndarray | None = None, n_threads: int | None = None,
                       model_ranks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """tau-a of every model and subject RDM under each stimulus resample, without resampling.

    ``models`` ``(n_models, n_pairs)``, ``subjects`` ``(n_sub, n_pairs)`` (finite);
    ``counts`` ``(n_draws, n_conditions)`` how often each condition is drawn;
    ``used`` ``(n_draws, n_sub)`` subjects to compute (others NaN). Returns
    ``(n_draws, n_models, n_sub)``, bit-identical to
    ``tau_a(models[:, cols], subjects[:, cols])`` with
    ``cols = resample_columns(conditions, n)`` (see the comment above the kernel).
    Draws with fewer than 2 resampled pairs give NaN (``tau_a`` would raise).
    ``model_ranks``: ``_dense_ranks(models)`` when the caller already has it (ranking
    151 models of 6,903 pairs takes ~0.2 s; callers that score many subject sets
    against the same models rank them once).
    """
    import numba

    models = np.ascontiguousarray(models, dtype=np.float64)
    subjects = np.ascontiguousarray(subjects, dtype=np.float64)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    n_cond = n_conditions_of(models.shape[1])
    if counts.ndim != 2 or counts.shape[1] != n_cond:
        raise ValueError(f"counts must be (n_draws, {n_cond}); got {counts.shape}")
    if used is None:
        used = np.ones((counts.shape[0], subjects.shape[0]), bool)
    used = np.ascontiguousarray(used, dtype=np.bool_)
    if counts.sum(1).max(initial=0) ** 2 >= 2**31:
        raise ValueError("too many resampled pairs for the int32 weights of the kernel")
    ra, _, pa = _dense_ranks(models) if model_ranks is None else model_ranks
    rb, _, ob = _dense_ranks(subjects)
    ci, cj = (np.ascontiguousarray(v, dtype=np.int32) for v in np.triu_indices(n_cond, 1))
    out = np.empty((counts.shape[0], models.shape[0], subjects.shape[0]), np.float64)
    threads = int(numba.get_num_threads() if n_threads is None else min(n_threads, numba.config.NUMBA_NUM_THREADS))
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, threads))
    try:
        _weighted_kernel(ra, pa, rb, ob, ci, cj, counts, used, out, max(1, min(threads, counts.shape[0])))
    finally:
        numba.set_num_threads(previous)
    # fewer than 2 resampled pairs (every draw the same condition): tau-a is undefined
    pairs = (counts.sum(1) ** 2 - (counts**2).sum(1)) // 2
    out[pairs < 2] = np.nan
    return out


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
    method: str = "weighted",
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
    method:
        ``"weighted"`` (default): every RDM is ranked once and each stimulus
        draw becomes column weights ``count_i x count_j`` for the weighted tau-a
        kernel (:func:`weighted_tau_draws`, parallel over draws);
        ``"resample"``: the reference, one :func:`~analysis.compare.tau_a` call on
        the materialised resampled RDMs per draw. Both consume ``rng`` the
        same way and give bit-identical draws (tested); RDMs with NaN use
        ``"resample"`` (tau-a's per-set NaN-column rule).

    Cost (weighted): ~O(n_boot x n_models x n_subjects x 0.4 n_pairs log n_levels);
    1000 draws of 151 models vs 1 RDM at 118 conditions take a few seconds on
    two cores (the resampling path: ~100 s). The Nili bounds, when bootstrapped,
    still use the materialised resample (a few ms per draw for a few subjects).
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
    resample = "stimuli" in over
    if method not in ("weighted", "resample"):
        raise ValueError(f"method must be 'weighted' or 'resample'; got {method!r}")
    weighted = resample and method == "weighted" and np.isfinite(models).all() and np.isfinite(subjects).all()
    # The random draws, in the same order whatever the method: conditions, then subject weights.
    counts = np.zeros((n_boot, n_cond), np.int64)
    weights = np.empty((n_boot, n_sub))
    for b in range(n_boot):
        if resample:
            conds = rng.integers(0, n_cond, n_cond)
            counts[b] = np.bincount(conds, minlength=n_cond)
            if not weighted or do_nili:
                cols = resample_columns(conds, n_cond)
                s = subjects[:, cols]
                m = models[:, cols] if not weighted else None
        else:
            m, s = models, subjects
        w = rng.multinomial(n_sub, ones / n_sub).astype(np.float64) if "subjects" in over else ones
        weights[b] = w
        used = w > 0
        if not weighted:
            t = tau_a(m, s[used], n_threads=n_threads) if resample else point_t[:, used]
            draws[b] = t @ w[used] / w.sum()
        if do_nili:
            nili_draws[b] = _nili(s, w)
    if weighted:
        tw = weighted_tau_draws(models, subjects, counts, weights > 0, n_threads=n_threads)
        for b in range(n_boot):
            w = weights[b]
            used = w > 0
            draws[b] = tw[b][:, used] @ w[used] / w.sum()
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
# Bootstrap of a pooled-population score (subjects resampled by their cells)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatternSums:
    """Sufficient statistics of subjects' patterns for the correlation RDM of their pooled cells.

    The correlation distance of conditions ``i, j`` over ``N`` pooled cells needs only
    ``sum_k x_ik x_jk``, ``sum_k x_ik`` and ``N``, which add over subjects, so the RDM of
    any resample of subjects (a subject drawn ``w`` times contributes its cells ``w``
    times) is a weighted sum of per-subject terms - no pattern is ever copied.

    ``gram`` ``(n_sub, n_cond, n_cond)``: ``X_s X_s^T`` of each subject's
    ``(n_cond, cells_s)`` patterns after subtracting ``offset`` ``(n_cond,)`` (a
    per-condition constant, which the RDM does not depend on: each condition's pattern
    is centred over cells; it keeps the sums small for accuracy); ``sums``
    ``(n_sub, n_cond)``: their row sums; ``n_cells`` ``(n_sub,)``.
    """

    gram: np.ndarray
    sums: np.ndarray
    n_cells: np.ndarray
    offset: np.ndarray


def pattern_sums(patterns: Sequence[np.ndarray]) -> PatternSums:
    """:class:`PatternSums` of subjects' ``(n_cond, cells_s)`` patterns (finite values)."""
    pats = [np.asarray(x, dtype=np.float64) for x in patterns]
    if not pats or len({x.shape[0] for x in pats}) != 1:
        raise ValueError(f"need subjects' (conditions, cells) patterns with equal conditions; got "
                         f"{[x.shape for x in pats]}")
    n_cells = np.array([x.shape[1] for x in pats], np.int64)
    if n_cells.sum() < 2:
        raise ValueError(f"need at least 2 cells in all for a correlation RDM; got {int(n_cells.sum())}")
    offset = np.concatenate(pats, axis=1).mean(axis=1)
    centred = [x - offset[:, None] for x in pats]
    return PatternSums(gram=np.stack([c @ c.T for c in centred]), sums=np.stack([c.sum(axis=1) for c in centred]),
                       n_cells=n_cells, offset=offset)


def pooled_rdm(ps: PatternSums, weights: np.ndarray | None = None) -> np.ndarray:
    """Correlation-distance RDM ``(1, n_pairs)`` of the pooled cells, subject ``s`` counted ``weights[s]`` times.

    With all weights 1 this equals ``analysis.compare.correlation_rdms`` of the
    concatenated patterns to float rounding (~1e-15; tested).
    """
    w = np.ones(ps.n_cells.size) if weights is None else np.asarray(weights, dtype=np.float64)
    n = float(w @ ps.n_cells)
    g = np.tensordot(w, ps.gram, axes=1)
    m = w @ ps.sums
    cov = g - np.outer(m, m) / n
    d = np.sqrt(np.diag(cov))
    iu = np.triu_indices(cov.shape[0], 1)
    return (1.0 - cov[iu] / (d[iu[0]] * d[iu[1]]))[None]


def bootstrap_pooled_scores(
    model_rdms: np.ndarray,
    point: np.ndarray,
    subject_patterns,
    n_subjects: int,
    rng: np.random.Generator,
    n_boot: int = 1000,
    n_sets: int = 1,
    chunk: int = 32,
    n_threads: int | None = None,
) -> Bootstrap:
    """Bootstrap over stimuli and subjects of tau-a against a **pooled-cell** brain RDM.

    The table's scores compare each model with the RDM of all cells of an area pooled
    over experiment containers (subjects). Resampling subjects therefore means pooling
    the cells of the resampled containers and recomputing that RDM (not averaging
    per-subject scores, :func:`bootstrap_scores`, which estimates another quantity).

    Parameters
    ----------
    model_rdms:
        ``(n_models, n_pairs)``.
    point:
        ``(n_models,)`` the scores being bootstrapped (stored as ``Bootstrap.point``).
    subject_patterns:
        ``subject_patterns(h)`` -> ``n_subjects`` patterns ``(n_cond, cells_s)`` (finite)
        of brain-RDM version ``h`` (``0 <= h < n_sets``): with ``n_sets=1`` the all-trial
        means; with ``n_sets > 1`` the means over the ``h``-th random half of the trials
        (original protocol: the score averages over such halves). Called lazily, once per
        version drawn.
    rng:
        The only source of randomness. Per draw, in this order: the resampled conditions
        (``integers(0, n_cond, n_cond)``), the subject counts (``multinomial(n_subjects,
        uniform)``) and, with ``n_sets > 1``, the version (``integers(0, n_sets)``).
    n_boot, chunk, n_threads:
        Draws; distinct brain RDMs scored per kernel call; numba threads.

    Each draw's statistic is tau-a between the resampled model RDMs and the brain RDM of
    the drawn version pooled over the drawn subjects, under the drawn stimulus resample
    (self-pairs excluded, as :func:`bootstrap_scores`), computed with
    :func:`weighted_tau_draws` (models ranked once for all draws). With ``n_sets > 1``
    the draws also carry the spread over trial halves, so the interval is slightly
    conservative for a score averaged over many halves. With one subject only the
    stimuli vary. Returns a :class:`Bootstrap` (``draws`` ``(n_boot, n_models)``; no
    Nili bounds: NaN).
    """
    models = np.atleast_2d(np.asarray(model_rdms, dtype=np.float64))
    n_cond = n_conditions_of(models.shape[1])
    if n_subjects < 1 or n_sets < 1 or n_boot < 1:
        raise ValueError(f"need n_subjects, n_sets and n_boot >= 1; got {n_subjects}, {n_sets}, {n_boot}")
    ones = np.ones(n_subjects) / n_subjects
    counts = np.empty((n_boot, n_cond), np.int64)
    weights = np.empty((n_boot, n_subjects), np.int64)
    version = np.zeros(n_boot, np.int64)
    for b in range(n_boot):
        counts[b] = np.bincount(rng.integers(0, n_cond, n_cond), minlength=n_cond)
        weights[b] = rng.multinomial(n_subjects, ones)
        if n_sets > 1:
            version[b] = rng.integers(0, n_sets)
    # One brain RDM per distinct (version, subject counts); grouped by version so that
    # only one version's sums are held at a time (each is n_sub x n_cond^2 floats).
    keys = [(int(version[b]),) + tuple(int(x) for x in weights[b]) for b in range(n_boot)]
    ordered = sorted(set(keys))
    position = {k: i for i, k in enumerate(ordered)}
    group = np.array([position[k] for k in keys])
    sums: dict[int, PatternSums] = {}

    def brain(key: tuple[int, ...]) -> np.ndarray:
        h = key[0]
        if h not in sums:
            sums.clear()
            sums[h] = pattern_sums(subject_patterns(h))
        return pooled_rdm(sums[h], np.array(key[1:], np.float64))[0]

    draws = np.empty((n_boot, models.shape[0]))
    finite_models = bool(np.isfinite(models).all())
    ranks = _dense_ranks(models) if finite_models else None
    step = max(1, int(chunk))
    for start in range(0, len(ordered), step):
        stop = min(start + step, len(ordered))
        brains = np.stack([brain(k) for k in ordered[start:stop]])
        sel = np.flatnonzero((group >= start) & (group < stop))
        local = group[sel] - start
        if finite_models and np.isfinite(brains).all():
            used = np.zeros((sel.size, stop - start), bool)
            used[np.arange(sel.size), local] = True
            tw = weighted_tau_draws(models, brains, counts[sel], used, n_threads=n_threads, model_ranks=ranks)
            draws[sel] = tw[np.arange(sel.size), :, local]
        else:  # NaN entries: tau-a's per-set NaN rule on the materialised resample
            for d, s in zip(sel, local):
                cols = resample_columns(np.repeat(np.arange(n_cond), counts[d]), n_cond)
                draws[d] = tau_a(models[:, cols], brains[s:s + 1, cols], n_threads=n_threads)[:, 0]
    nan2 = np.full(2, np.nan)
    return Bootstrap(np.asarray(point, dtype=np.float64), draws, nan2, np.full((n_boot, 2), np.nan),
                     ("stimuli", "subjects"))


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
