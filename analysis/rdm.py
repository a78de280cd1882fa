"""RDMs, split-half noise ceilings and model-brain scores.

Shapes:

* response tensor ``(trials, conditions, neurons)``;
* RDMs are vectorised upper triangles in rsatoolbox order,
  ``(n_rdms, n_pairs)`` with ``n_pairs = conditions * (conditions - 1) / 2``;
* scores are Kendall's tau-a (dimensionless, in [-1, 1]).

RDMs are computed with rsatoolbox (``calc_rdm(method="correlation")``: one minus
the Pearson correlation of two conditions' patterns across neurons, or across
features for a network layer). tau-a comes from :func:`analysis.compare.tau_a`,
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
import rsatoolbox

from .compare import tau_a

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
    patterns = np.asarray(patterns, dtype=np.float64)
    if patterns.ndim == 2:
        patterns = patterns[None]
    if patterns.ndim != 3:
        raise ValueError(f"patterns must be (conditions, channels) or (sets, conditions, channels); got {patterns.shape}")
    if patterns.shape[1] < 3:
        raise ValueError(f"need at least 3 conditions for an RDM; got {patterns.shape[1]}")
    datasets = [rsatoolbox.data.Dataset(p) for p in patterns]
    rdms = rsatoolbox.rdm.calc_rdm(datasets, method="correlation")
    return np.asarray(rdms.get_vectors(), dtype=np.float64)


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
    # In chunks, so that (chunk, conditions, neurons) means stay small at 900 conditions.
    chunks = [
        calc_rdms(np.stack([np.nanmean(responses[h], axis=0) for h in halves[i : i + _CHUNK]]))
        for i in range(0, n_rdms, _CHUNK)
    ]
    return np.concatenate(chunks)


def split_half_ceiling(responses: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Split-half noise ceiling: tau-a between the RDMs of two disjoint trial halves.

    For each of ``n_splits`` random splits the trials are divided into two halves
    (the second half is the complement of the first; with an odd number of trials
    the extra trial goes to the second), each half is averaged and turned into an
    RDM, and the two RDMs are compared with tau-a. No Spearman-Brown correction
    (as in the original). Returns ``(n_splits,)`` tau-a values.
    """
    n_trials = responses.shape[0]
    firsts = half_splits(n_trials, n_splits, rng)
    values = np.empty(n_splits)
    for i, first in enumerate(firsts):
        second = np.setdiff1d(np.arange(n_trials), first)
        pair = calc_rdms(
            np.stack([np.nanmean(responses[first], axis=0), np.nanmean(responses[second], axis=0)])
        )
        values[i] = tau_a(pair[:1], pair[1:])[0, 0]
    return values


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
    values = tau_a(model_rdms, brain)
    return Scores(mean=values.mean(axis=1), sd=values.std(axis=1), all=values)
