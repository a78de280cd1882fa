"""Bootstrap of scores and noise ceilings: mean over subjects, and pooled-cell brain RDMs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..compare import tau_a
from .resampling import n_conditions_of, percentile_ci, resample_columns
from .weighted_tau import _dense_ranks, weighted_tau_draws

Over = Sequence[str]
_OVER = ("stimuli", "subjects")


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
    from ..rdm import nili_bounds

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
    from ..responses import spearman_brown

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


def score_intervals(boot: Bootstrap, level: float = 0.95) -> pd.DataFrame:
    """Tidy ``(n_models)`` rows: ``model, score, ci_low, ci_high, boot_sd`` (model = row index)."""
    lo, hi = boot.ci(level)
    return pd.DataFrame({"model": np.arange(boot.point.size), "score": boot.point, "ci_low": lo,
                         "ci_high": hi, "boot_sd": boot.draws.std(axis=0, ddof=1)})
