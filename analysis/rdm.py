"""RDMs, split-half noise ceilings and model-brain scores.

Shapes:

* response tensor ``(trials, conditions, neurons)``;
* RDMs are vectorised upper triangles in rsatoolbox order,
  ``(n_rdms, n_pairs)`` with ``n_pairs = conditions * (conditions - 1) / 2``;
* scores are Kendall's tau-a (dimensionless, in [-1, 1]).

RDMs are correlation distances (one minus the Pearson correlation of two
conditions' patterns across neurons, or across features for a network layer),
computed with rsatoolbox's formula by :func:`analysis.compare.correlation_rdms`
(a BLAS matrix product instead of rsatoolbox's ``einsum`` loop, ~20x faster at 900
conditions; equal to ``rsatoolbox.rdm.calc_rdm(method="correlation")`` to 1e-12,
which ``tests/test_rdm.py`` checks). tau-a comes from :func:`analysis.compare.tau_a`,
which equals rsatoolbox's ``compare(method="tau-a")`` to 1e-12.

Randomness: every function that draws takes a ``numpy.random.Generator``; the
pipeline derives one per (stimulus, depth, area, purpose) from the global seed
(:func:`derive_rng`), so results do not depend on the order work is done in or
on what was cached.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .compare import correlation_rdms, tau_a

_CHUNK = 10  # trial-mean patterns turned into RDMs at once


def derive_rng(seed: int, *labels: object) -> np.random.Generator:
    """A generator determined by ``seed`` and the labels (order-independent of other draws).

    >>> a = derive_rng(42, "natural_scenes", 175, "VISp", "brain_rdms").random()
    >>> b = derive_rng(42, "natural_scenes", 175, "VISp", "brain_rdms").random()
    >>> a == b
    True
    """
    label = "/".join(str(x) for x in labels)
    return np.random.default_rng([int(seed), zlib.crc32(label.encode())])


def calc_rdms(patterns: np.ndarray) -> np.ndarray:
    """Correlation-distance RDMs of one or more pattern matrices.

    Parameters
    ----------
    patterns:
        ``(conditions, channels)`` or ``(n_sets, conditions, channels)``.

    Returns
    -------
    numpy.ndarray
        ``(n_sets, n_pairs)`` float64 (``n_sets = 1`` for 2-D input).
    """
    return correlation_rdms(patterns)  # validates shapes


def half_splits(n_trials: int, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Random halves of the trials: ``(n_splits, n_trials // 2)`` sorted trial indices."""
    if n_trials < 2:
        raise ValueError(f"need at least 2 trials to split in halves; got {n_trials}")
    half = n_trials // 2
    return np.stack([np.sort(rng.permutation(n_trials)[:half]) for _ in range(n_splits)])


def brain_rdms(responses: np.ndarray, n_rdms: int, rng: np.random.Generator) -> np.ndarray:
    """RDMs of the trial mean over random halves of the trials (original protocol).

    ``responses`` ``(trials, conditions, neurons)`` -> ``(n_rdms, n_pairs)``.
    """
    halves = half_splits(responses.shape[0], n_rdms, rng)
    # Without NaN, mean gives nanmean's values to the bit (the same sums over the same values,
    # divided by the same count; tests/test_rdm.py) at a third of its cost.
    mean = np.nanmean if np.isnan(responses).any() else np.mean
    # In chunks, so that (chunk, conditions, neurons) means stay small at 900 conditions.
    chunks = [
        calc_rdms(np.stack([mean(responses[h], axis=0) for h in halves[i : i + _CHUNK]]))
        for i in range(0, n_rdms, _CHUNK)
    ]
    return np.concatenate(chunks)


def split_half_ceiling(responses: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Split-half noise ceiling: tau-a between the full RDMs of two disjoint trial halves.

    ``(n_splits,)`` draws; the ``"split_half"`` estimator of :func:`split_half_ceilings`
    (the second half is the complement of the first; with an odd number of trials the
    extra trial goes to the second). No Spearman-Brown correction.
    """
    return split_half_ceilings(responses, n_splits, rng)["split_half"]


@dataclass(frozen=True)
class Scores:
    """Model-brain similarity of several model RDMs against a set of brain RDMs.

    ``mean`` and ``sd``: ``(n_models,)`` mean and standard deviation (ddof 0) of tau-a
    over the brain RDMs; ``all``: the full ``(n_models, n_brain_rdms)`` matrix.
    """

    mean: np.ndarray
    sd: np.ndarray
    all: np.ndarray


def score_models(model_rdms: np.ndarray, brain: np.ndarray) -> Scores:
    """tau-a of each model RDM with each brain RDM, averaged over the brain RDMs."""
    return scores_of(tau_a(model_rdms, brain))


def scores_of(values: np.ndarray) -> Scores:
    """:class:`Scores` of a ``(n_models, n_brain_rdms)`` tau-a matrix."""
    return Scores(mean=values.mean(axis=1), sd=values.std(axis=1), all=values)


# --------------------------------------------------------------------------------------
# Corrected protocol: all-trial RDMs, Spearman-Brown ceiling, Nili bounds across animals
# --------------------------------------------------------------------------------------


def _complete_patterns(means: np.ndarray) -> np.ndarray:
    """Keep the cells finite in every condition (and every set) of ``(sets, conditions, cells)``."""
    from .responses import complete_cells

    keep = complete_cells(means)
    if keep.sum() < 2:
        raise ValueError(
            f"only {int(keep.sum())} of {keep.size} cells have a valid trial in every condition; "
            "need at least 2 for a correlation-distance RDM"
        )
    return means[..., keep]


def mean_rdm(responses: np.ndarray) -> np.ndarray:
    """RDM of the mean over **all** trials (corrected protocol), ``(1, n_pairs)``.

    ``responses`` ``(trials, conditions, cells)`` with NaN for missing
    presentations: each cell's mean is over its valid trials
    (:func:`analysis.responses.trial_mean`); cells without a valid trial in some
    condition are left out (:func:`analysis.responses.complete_cells`).
    """
    from .responses import trial_mean

    return calc_rdms(_complete_patterns(trial_mean(responses)[None]))


@dataclass(frozen=True)
class SplitHalfCeiling:
    """Split-half noise ceiling draws, ``(n_splits,)`` each.

    ``raw``: tau-a between the RDMs of two disjoint trial halves (what the
    original reported); ``corrected``: ``spearman_brown(raw)``, the estimated
    agreement between two independent *all-trial* RDMs - the reliability of
    the RDM that the corrected protocol scores models against.
    """

    raw: np.ndarray
    corrected: np.ndarray

    @property
    def median(self) -> float:
        return float(np.median(self.corrected))


def split_half_ceiling_sb(responses: np.ndarray, n_splits: int, rng: np.random.Generator) -> SplitHalfCeiling:
    """Spearman-Brown-corrected split-half ceiling of the all-trial RDM.

    Each split divides the trials at random into two halves (``trials // 2``
    and the rest), takes each cell's mean over its valid trials in each half,
    keeps the cells finite in every condition of both halves, and compares the
    two halves' correlation-distance RDMs with tau-a
    (:func:`analysis.compare.tau_a`). The half-length agreement is stepped up
    to full length with the Spearman-Brown formula ``2 t / (1 + t)``: exact
    for Pearson correlations of parallel halves, an approximation for
    Kendall's tau-a (a monotone, not linear, function of the underlying
    correlation; for Gaussian data tau = (2/pi) arcsin r).

    Note (classical test theory): the corrected value estimates the agreement
    of two independent all-trial RDMs. The *true* RDM agrees with one all-trial
    RDM by about the square root of that, so a perfect model can score above
    this ceiling; it is a conservative reference, not a hard upper bound.
    Returns ``raw`` and ``corrected`` per split.
    """
    d = split_half_ceilings(responses, n_splits, rng)
    return SplitHalfCeiling(raw=d["split_half"], corrected=d["spearman_brown"])


#: The split-half noise-ceiling estimators of :func:`split_half_ceilings` (a protocol's ``ceiling``).
CEILING_ESTIMATORS: tuple[str, ...] = ("row0", "split_half", "spearman_brown")


def split_half_ceilings(responses: np.ndarray, n_splits: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every split-half noise-ceiling estimator, on the same ``n_splits`` random splits.

    Each split divides the trials at random into two halves (``trials // 2`` and the rest;
    :func:`half_splits`), takes each cell's mean over its valid trials in each half, keeps
    the cells finite in every condition of both halves and computes the two halves'
    correlation-distance RDMs. Returns ``(n_splits,)`` draws of

    ``"split_half"``
        Kendall's tau-a between the two halves' full RDMs (all ``M(M-1)/2`` pairs): the
        ceiling the original study described.
    ``"row0"``
        tau-a between **row 0** of the two halves' RDMs: condition 0's dissimilarities to
        the other ``M - 1`` conditions. This is what the original's code computed (it
        wrapped each half's ``M x M`` matrix, diagonal NaN, as an rsatoolbox 0.1.5 RDMs
        object, read as ``M`` one-row "RDMs", and took ``compare(...)[0][0]``); it rests
        on the first image or clip alone, so it is noisier than the full-RDM ceiling and
        depends on how reliable condition 0 happens to be.
    ``"spearman_brown"``
        ``split_half`` stepped up to the full number of trials, ``2 t / (1 + t)``.

    With complete data the means are plain trial means, so ``split_half`` equals the
    original protocol's full-RDM ceiling computed with ``nanmean``.
    """
    from .responses import spearman_brown, trial_mean

    r = np.asarray(responses, dtype=np.float64)
    m = r.shape[1]
    if m < 3:
        raise ValueError(f"a split-half ceiling needs at least 3 conditions; got {m}")
    halves = half_splits(r.shape[0], n_splits, rng)
    full, row0 = np.empty(n_splits), np.empty(n_splits)
    all_trials = np.arange(r.shape[0])
    for i, first in enumerate(halves):
        second = np.setdiff1d(all_trials, first)
        pair = calc_rdms(_complete_patterns(np.stack([trial_mean(r[first]), trial_mean(r[second])])))
        full[i] = tau_a(pair[:1], pair[1:])[0, 0]
        # the first m - 1 entries of the upper triangle (rsatoolbox order) are row 0: (0, 1) .. (0, m-1)
        row0[i] = tau_a(pair[:1, :m - 1], pair[1:, :m - 1])[0, 0]
    return {"row0": row0, "split_half": full, "spearman_brown": np.asarray(spearman_brown(full), dtype=np.float64)}


def rank_mean_rdm(rdms: np.ndarray) -> np.ndarray:
    """Group RDM for tau-a: the mean of the RDMs' ranks (ties averaged), ``(1, n_pairs)``.

    The same pooling as rsatoolbox's ``pool_rdm(method="tau-a")`` (used by its
    noise ceilings): only ranks matter to tau-a, so subjects with larger
    dissimilarities do not dominate the group RDM. NaN columns stay NaN.
    """
    from scipy.stats import rankdata

    rdms = np.atleast_2d(np.asarray(rdms, dtype=np.float64))
    ranks = np.full_like(rdms, np.nan)
    for i, v in enumerate(rdms):
        ok = np.isfinite(v)
        ranks[i, ok] = rankdata(v[ok])
    return np.mean(ranks, axis=0, keepdims=True)


@dataclass(frozen=True)
class NiliBounds:
    """Noise-ceiling bounds across subjects (Nili et al. 2014), tau-a.

    ``upper``: mean over subjects of tau-a(subject RDM, group RDM of **all**
    subjects) - no model can be expected to do better on average;
    ``lower``: mean over subjects of tau-a(subject RDM, group RDM of the
    **other** subjects) - what the group structure, estimated without the
    subject, achieves. ``upper_each``/``lower_each``: ``(n_subjects,)``.
    These bound the *mean over subjects* of a model's tau-a with each subject's
    RDM (:func:`subject_scores`).
    """

    lower: float
    upper: float
    lower_each: np.ndarray
    upper_each: np.ndarray


def nili_bounds(subject_rdms: np.ndarray, weights: np.ndarray | None = None) -> NiliBounds:
    """Nili lower/upper noise-ceiling bounds of ``(n_subjects, n_pairs)`` RDMs.

    Experiment containers (one mouse and field of view each) are the subjects;
    each subject RDM is :func:`mean_rdm` of its cells. Group RDMs are
    :func:`rank_mean_rdm` (as in rsatoolbox). ``weights`` (``(n_subjects,)``
    non-negative counts) lets a bootstrap over subjects reuse the distinct
    subjects: a subject drawn ``w`` times counts ``w`` times in the group RDMs
    and the averages, and its leave-one-out group RDM leaves out one copy
    only (the other copies, being the same data, stay in - as rsatoolbox does
    for a resampled set). Needs at least 2 subjects (with weight).
    """
    from scipy.stats import rankdata

    x = np.atleast_2d(np.asarray(subject_rdms, dtype=np.float64))
    n = x.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or (w < 0).any():
        raise ValueError(f"weights must be ({n},) non-negative; got {w}")
    if w.sum() < 2:
        raise ValueError(f"the Nili lower bound needs at least 2 subjects; got {w.sum():g}")
    ranks = np.full_like(x, np.nan)
    for i, v in enumerate(x):
        ok = np.isfinite(v)
        ranks[i, ok] = rankdata(v[ok])
    total = (w[:, None] * ranks).sum(axis=0)
    group = total / w.sum()
    used = np.flatnonzero(w > 0)
    others = np.stack([(total - ranks[i]) / (w.sum() - 1) for i in used])
    upper_each = tau_a(x[used], group[None])[:, 0]
    lower_each = np.array([tau_a(x[i], o[None])[0, 0] for i, o in zip(used, others)])
    ww = w[used]
    return NiliBounds(
        lower=float(np.average(lower_each, weights=ww)),
        upper=float(np.average(upper_each, weights=ww)),
        lower_each=lower_each,
        upper_each=upper_each,
    )


def subject_scores(model_rdms: np.ndarray, subject_rdms: np.ndarray) -> np.ndarray:
    """tau-a of every model RDM with every subject RDM, ``(n_models, n_subjects)``.

    The corrected score of a model is the mean over subjects (the quantity the
    Nili bounds bound); a bootstrap over animals resamples the columns.
    """
    return tau_a(model_rdms, subject_rdms)
