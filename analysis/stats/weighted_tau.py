"""The weighted tau-a kernel of the stimulus bootstrap (numba): rank once, weight columns per draw."""

from __future__ import annotations

import numba
import numpy as np

from .resampling import n_conditions_of


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
