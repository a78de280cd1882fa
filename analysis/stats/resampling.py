"""Resampling primitives: condition pairs, stimulus resamples, percentile intervals, p-values, FDR."""

from __future__ import annotations

import numpy as np


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
